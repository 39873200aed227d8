"""Pretrained vectors by name: the cache, fetching from a local HTTP server (sources in order,
checksums, whole files), an offline machine's one-line error, the dimension, ``auto``."""

import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading

import pytest

from tfseq import cli, vectors


def glove_file(path, words=("the", "film", "good", "bad"), dim=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"{w} " + " ".join(f"{(i + j) / 10:g}" for j in range(dim)) + "\n" for i, w in enumerate(words))
    )
    return path


def test_a_name_reads_the_cache_and_a_path_reads_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSEQ_CACHE", str(tmp_path / "cache"))
    cached = glove_file(tmp_path / "cache" / "glove.6B.100d.txt", dim=100)
    assert vectors.resolve("glove-6b-100d") == cached and vectors.dimension(cached) == 100
    mine = glove_file(tmp_path / "mine.txt", dim=8)
    assert vectors.resolve(str(mine)) == mine and vectors.dimension(mine) == 8
    (tmp_path / "w2v.txt").write_text("2 3\na 1 2 3\nb 4 5 6\n")  # word2vec's header
    assert vectors.dimension(tmp_path / "w2v.txt") == 3


def test_offline_without_the_vectors_says_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFSEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TFSEQ_OFFLINE", "1")
    with pytest.raises(
        vectors.VectorsError,
        match=r"glove-6b-100d: not in the cache \(.*glove.6B.100d.txt\) and TFSEQ_OFFLINE is set: "
        r"download glove.6B.100d.txt from https://nlp.stanford.edu",
    ):
        vectors.resolve("glove-6b-100d")
    # A name that is neither a file nor named vectors fails before any work.
    assert cli.train_main(["task=classify", "model.embeddings=glove-7b"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.embeddings=glove-7b: no such file, and no named vectors (glove-6b-100d)" in err
    assert len(err.splitlines()) == 1


def test_one_key_is_enough_the_embedding_size_follows_the_vectors(tmp_path, monkeypatch):
    from test_classify import in_process_trainer

    monkeypatch.setenv("TFSEQ_CACHE", str(tmp_path / "cache"))
    glove_file(tmp_path / "cache" / "glove.6B.100d.txt", words=("great", "fun", "movie", "bad", "awful"), dim=6)
    trainer = in_process_trainer(tmp_path, "model.embeddings=glove-6b-100d")
    logged = []
    trainer.task.log = trainer.log = logged.append
    trainer.execute()
    assert trainer.config.backbone.embedding_dim == 6  # the recipe's 8 (FAST) became the file's 6
    assert any(line.startswith("auto: backbone.embedding_dim=6 (the dimension of the vectors in") for line in logged)
    assert any("embeddings: 5 of" in line for line in logged)


def test_word2vec_binary_files_are_read_and_written_and_bad_bytes_name_the_file(tmp_path, monkeypatch):
    import numpy as np

    from tfseq.data.dataset import DataError
    from tfseq.models import WordVectors, read_word_vectors

    words = ["the", "film", "été", "good"]
    table = WordVectors(words, np.arange(4 * 5, dtype="float32").reshape(4, 5) / 7)
    binary, text = table.save(tmp_path / "v.bin", binary=True), table.save(tmp_path / "v.txt")
    assert b"\x00" in binary.read_bytes()[:200]  # float32 bytes, as the C tool and gensim write them
    loaded = WordVectors.load(binary)
    assert loaded.words == words and np.array_equal(loaded.vectors, table.vectors)
    assert vectors.dimension(binary) == 5
    np.testing.assert_allclose(WordVectors.load(text).vectors, table.vectors, atol=1e-5)
    matrix, found = read_word_vectors(binary, ["good", "unknown", "the"], 5)
    assert found == 2 and np.array_equal(matrix[2], table.vectors[3]) and np.array_equal(matrix[4], table.vectors[0])
    (tmp_path / "cut.bin").write_bytes(binary.read_bytes()[:-9])
    with pytest.raises(DataError, match=r"cut.bin: binary word2vec file ends inside word 4's vector"):
        WordVectors.load(tmp_path / "cut.bin")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 1 2\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt:1: not UTF-8 text; expected a word2vec file \(text, or binary"):
        WordVectors.load(tmp_path / "latin1.txt")

    from test_classify import in_process_trainer  # and model.embeddings= takes the binary file

    big = WordVectors(["great", "fun", "movie", "bad", "awful"], np.ones((5, 6), "float32")).save(
        tmp_path / "mine.bin", binary=True
    )
    trainer = in_process_trainer(tmp_path, f"model.embeddings={big}")
    logged = []
    trainer.task.log = trainer.log = logged.append
    trainer.execute()
    assert trainer.config.backbone.embedding_dim == 6 and any("embeddings: 5 of" in line for line in logged)


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over ``tmp_path/site``: ``(base URL, the paths it was asked for)``."""
    site, asked = tmp_path / "site", []
    site.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(site), **kwargs)

        def do_GET(self):
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", site, asked
    httpd.shutdown()
    httpd.server_close()


WORDS = {"the": [0.1, 0.2, 0.3], "film": [0.4, 0.5, 0.6], "good": [-0.1, 0.0, 1.5]}


def hub_copy(site):
    """The vectors as gensim-data publishes them: word2vec text, gzipped. Its bytes."""
    text = "3 3\n" + "".join(f"{w} " + " ".join(map(str, v)) + "\n" for w, v in WORDS.items())
    (site / "vectors.gz").write_bytes(gzip.compress(text.encode()))
    return (site / "vectors.gz").read_bytes()


def npm_copy(site):
    """The vectors as the wink npm package holds them: a JSON table in a tarball. Its bytes."""
    table = {
        "dimensions": 3,
        "words": list(WORDS),
        "vectors": {w: [*v, 1.0, i] for i, (w, v) in enumerate(WORDS.items())},
    }
    raw, packed = json.dumps(table).encode(), io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        member = tarfile.TarInfo("package/src/embeddings.json")
        member.size = len(raw)
        tar.addfile(member, io.BytesIO(raw))
    (site / "vectors.tgz").write_bytes(packed.getvalue())
    return packed.getvalue()


def named(monkeypatch, tmp_path, *sources):
    monkeypatch.setenv("TFSEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TFSEQ_OFFLINE", raising=False)
    spec = {"file": "tiny.3d.txt", "dim": 3, "about": "three words", "sources": sources, "manual": "tiny.txt from x"}
    monkeypatch.setitem(vectors.NAMED, "tiny-3d", spec)
    return tmp_path / "cache" / "tiny.3d.txt"


def test_fetch_takes_the_first_source_that_answers_with_its_checksum(tmp_path, monkeypatch, server, capsys):
    base, site, asked = server
    gz, tgz = hub_copy(site), npm_copy(site)
    out = named(
        monkeypatch,
        tmp_path,
        {"url": f"{base}/gone.gz", "md5": "0" * 32, "form": "word2vec.gz"},  # 404
        {"url": f"{base}/vectors.gz", "md5": "f" * 32, "form": "word2vec.gz"},  # damaged: wrong sum
        {"url": f"{base}/vectors.tgz", "sha1": hashlib.sha1(tgz).hexdigest(), "form": "wink.tgz"},
    )
    assert vectors.resolve("tiny-3d") == out
    assert asked == ["/gone.gz", "/vectors.gz", "/vectors.tgz"]
    loaded = vectors.WordVectors.load(out)
    assert loaded.words == list(WORDS) and loaded["good"].tolist() == pytest.approx(WORDS["good"])
    err = capsys.readouterr().err
    assert (
        "127.0.0.1:" in err
        and "HTTP 404 File not found" in err
        and f"md5 {hashlib.md5(gz).hexdigest()}, expected {'f' * 32}" in err
    )
    assert f"vectors: fetching tiny-3d (three words): {len(tgz):,} bytes from {base}/vectors.tgz" in err
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.3d.txt"]  # nothing half-written beside it
    assert vectors.resolve("tiny-3d") == out and len(asked) == 3  # the cache: no second fetch

    out.unlink()  # the hub's copy, when it answers with its sum
    vectors.NAMED["tiny-3d"]["sources"] = (
        {"url": f"{base}/vectors.gz", "md5": hashlib.md5(gz).hexdigest(), "form": "word2vec.gz"},
    )
    assert vectors.WordVectors.load(vectors.fetch("tiny-3d")).words == list(WORDS)


def test_no_source_answering_is_one_error_naming_each_and_leaves_no_file(tmp_path, monkeypatch, server):
    base, site, asked = server
    hub_copy(site)
    out = named(
        monkeypatch,
        tmp_path,
        {"url": f"{base}/vectors.gz", "md5": "f" * 32, "form": "word2vec.gz"},
        {"url": "http://127.0.0.1:9/vectors.tgz", "sha1": "0" * 40, "form": "wink.tgz"},  # nothing listens
    )
    with pytest.raises(vectors.VectorsError) as caught:
        vectors.fetch("tiny-3d")
    assert "fetching it failed (127.0.0.1:" in caught.value.why and "expected ffff" in caught.value.why
    assert "127.0.0.1:9: " in caught.value.why and "download tiny.txt from x" in str(caught.value)
    assert not out.exists() and list(out.parent.iterdir()) == []
    monkeypatch.setenv("TFSEQ_OFFLINE", "1")  # offline: not even asked
    with pytest.raises(vectors.VectorsError, match="TFSEQ_OFFLINE is set"):
        vectors.fetch("tiny-3d")
    assert asked == ["/vectors.gz"]


ENGLISH = ["the film was good and i loved it", "it was a bad film and the acting was awful"]


def english_trainer(tmp_path, *extra):
    from test_classify import trainer_in

    tmp_path.mkdir(parents=True, exist_ok=True)
    lines = ["text,label"] + [f"{ENGLISH[i % 2]} {i},{'pos' if i % 2 == 0 else 'neg'}" for i in range(60)]
    (tmp_path / "en.csv").write_text("\n".join(lines) + "\n")
    trainer = trainer_in(tmp_path, "run", f"data.train={tmp_path / 'en.csv'}", "model.embeddings=auto", *extra)
    logged = []
    trainer.task.log = trainer.log = logged.append
    return trainer, logged


def test_auto_takes_english_vectors_from_the_cache_and_says_so_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TFSEQ_OFFLINE", "1")
    trainer, logged = english_trainer(tmp_path)  # offline, nothing cached: trains without, one line
    trainer.execute()
    said = [line for line in logged if line.startswith("auto: model.embeddings")]
    assert said == [
        "auto: model.embeddings=null (English words (61% of the words are English function words), but "
        f"glove-6b-100d is not in the cache ({tmp_path / 'cache' / 'glove.6B.100d.txt'}) and TFSEQ_OFFLINE is "
        "set: training without them; python -m tfseq.vectors fetch glove-6b-100d fetches them)"
    ]
    assert trainer.config.model.embeddings is None and trainer.task.embeddings_file is None

    glove_file(tmp_path / "cache" / "glove.6B.100d.txt", words=("the", "film", "good", "bad", "awful"), dim=12)
    trainer, logged = english_trainer(tmp_path / "cached")  # prepared and built: no need to train
    trainer.task.prepare()
    trainer.task.build_model()
    assert "auto: model.embeddings=glove-6b-100d (English words: 61% of the words are English function words)" in logged
    assert trainer.config.model.embeddings == "glove-6b-100d" and trainer.config.backbone.embedding_dim == 12
    assert any(line.startswith("embeddings: 5 of") for line in logged)

    trainer, logged = english_trainer(tmp_path / "off", "model.embeddings=null")  # opted out
    trainer.task.prepare()
    assert trainer.task.embeddings_file is None and not any("model.embeddings" in line for line in logged)
