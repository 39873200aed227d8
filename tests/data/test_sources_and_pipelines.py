"""The data layer: built-ins, content splits, file readers' errors, TFDS, vectorizer, pipelines."""

import numpy as np
import pytest

from tfseq import data, recipes
from tfseq.data import DataError


def test_reviews_zh_is_clean_and_split_by_content():
    ds = data.load("reviews-zh")
    assert ds.sizes() == {"train": 13921, "validation": 1763, "test": 1679}
    assert ds.describe()["labels"] == {"negative": 7233, "positive": 6688} or set(ds.labels) == {"negative", "positive"}
    texts = [set(f["text"]) for f in ds.splits.values()]
    assert not (texts[0] & texts[2]) and not (texts[0] & texts[1])
    total = sum(ds.sizes().values())
    assert total == 8332 + 9031
    assert data.split_of("同一句话") == data.split_of("同一句话")


@pytest.mark.parametrize(
    "name,kind",
    [
        ("pos-zh", "tagging"),
        ("seg-zh", "tagging"),
        ("text-zh", "language-model"),
        ("cmudict", "seq2seq"),
        ("digits-captions", "captioning"),
    ],
)
def test_every_builtin_loads_offline(name, kind):
    ds = data.load(name)
    assert ds.kind == kind and all(n > 0 for n in ds.sizes().values())
    card = data.describe(name)
    assert card["source"] and card["license"]


def test_seg_tags_spell_the_words():
    row = data.load("seg-zh").train.iloc[0]
    assert len(row["tokens"]) == len(row["tags"]) and set(row["tags"]) <= set("BMES")


def test_cmudict_words_never_straddle_splits():
    ds = data.load("cmudict")
    train, test = set(ds.train["source"]), set(ds.test["source"])
    assert not train & test


def test_digit_captions_use_disjoint_images():
    ds = data.load("digits-captions")
    image = ds.train["image"].iloc[0]
    assert image.shape == (8, 32) and 1 <= len(ds.train["caption"].iloc[0].split()) <= 4
    assert ds.describe()["images per split"]["test"] > 100


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_table_errors_name_file_line_and_field(tmp_path):
    good = write(tmp_path / "a.csv", "review,stars\nfine,pos\nbad,neg\n")
    frame = data.read_table(good, "review", "stars")
    assert list(frame.columns) == ["text", "label"] and len(frame) == 2
    with pytest.raises(DataError, match=r"a.csv: missing column\(s\) \['text', 'label'\].*\['review', 'stars'\]"):
        data.read_table(good)
    with pytest.raises(DataError, match=r"empty.csv: the file is empty"):
        data.read_table(write(tmp_path / "empty.csv", ""))
    with pytest.raises(DataError, match=r"blank.csv: no text: its 2 line\(s\) are all blank"):
        data.read_table(write(tmp_path / "blank.csv", "  \n\t\n"))
    with pytest.raises(DataError, match=r"latin.csv:3: not valid UTF-8"):
        data.read_table(write(tmp_path / "latin.csv", "text,label\nok,a\ncaf\u00e9,b\n", "latin-1"))
    with pytest.raises(DataError, match=r"nolabel.csv:3: field 'label' is empty"):
        data.read_table(write(tmp_path / "nolabel.csv", "text,label\nok,a\nhm,\n"))
    jsonl = write(tmp_path / "a.jsonl", '{"text": "x", "label": 1}\n{"text": "y", "label": 0}\n')
    assert data.read_table(jsonl)["label"].tolist() == ["1", "0"]
    # A table written with another separator than its name says: what to do, not "columns ['text;label']".
    with pytest.raises(
        DataError,
        match=r"semi.csv: missing column\(s\) \['text', 'label'\]; its header 'text;label' "
        r"looks separated by semicolons, .* save it with commas$",
    ):
        data.read_table(write(tmp_path / "semi.csv", "text;label\nok;a\n"))
    with pytest.raises(DataError, match=r"looks separated by tabs, .* save it with commas \(or name it .tsv\)"):
        data.read_table(write(tmp_path / "tabs.csv", "text\tlabel\nok\ta\n"))
    with pytest.raises(DataError, match=r"looks separated by commas, .* save it with tabs \(or name it .csv\)"):
        data.read_table(write(tmp_path / "commas.tsv", "text,label\nok,a\n"))
    bom = tmp_path / "bom.csv"  # Excel's "CSV UTF-8": a byte-order mark and CRLF lines
    bom.write_bytes("text,label\r\nok,a\r\n".encode("utf-8-sig"))
    assert data.read_table(bom).values.tolist() == [["ok", "a"]]


@pytest.mark.parametrize("cell", ["NaN", "nan", "None", "null", "NULL", " NaN "])
def test_a_label_that_means_no_value_is_an_empty_label(tmp_path, cell):
    table = write(tmp_path / "t.csv", f"text,label\nok,a\nhm,{cell}\nyes,b\n")
    with pytest.raises(DataError, match=r"t.csv:3: field 'label' is '.*', which means no value; expected a label"):
        data.read_table(table)
    jsonl = write(tmp_path / "t.jsonl", '{"text": "x", "label": "a"}\n{"text": "y", "label": null}\n{"text": "z"}\n')
    with pytest.raises(DataError, match=r"t.jsonl:2: field 'label' is"):
        data.read_table(jsonl)


def test_json_labels_have_one_spelling_and_never_mix_kinds(tmp_path):
    # 1, "1" and 1.0 are one label, not three.
    jsonl = write(
        tmp_path / "n.jsonl",
        "".join(f'{{"text": "t{i}", "label": {v}}}\n' for i, v in enumerate(["1", '"1"', "1.0", "0", '"0"', "0.0"])),
    )
    assert data.read_table(jsonl)["label"].tolist() == ["1", "1", "1", "0", "0", "0"]
    flags = write(tmp_path / "b.jsonl", '{"text": "x", "label": true}\n{"text": "y", "label": false}\n')
    assert data.read_table(flags)["label"].tolist() == ["true", "false"]
    # true beside 1 is a file two programs wrote: refused, naming both lines.
    mixed = write(
        tmp_path / "m.jsonl", '{"text": "x", "label": 1}\n{"text": "y", "label": "1"}\n{"text": "z", "label": true}\n'
    )
    with pytest.raises(
        DataError,
        match=r"m.jsonl:3: field 'label' is true \(a boolean\) but 2 line\(s\) hold numbers: "
        r"use one kind of label \(all true/false, or all strings\)",
    ):
        data.read_table(mixed)


def test_a_stray_label_of_another_json_kind_is_refused_at_its_line(tmp_path):
    rows = [f'{{"text": "t{i}", "label": "{["food", "sports", "tech"][i % 3]}"}}' for i in range(30)]
    stray = write(tmp_path / "s.jsonl", "\n".join(rows[:7] + ['{"text": "odd", "label": 1}'] + rows[7:]) + "\n")
    with pytest.raises(
        DataError,
        match=r"s.jsonl:8: field 'label' is 1 \(a number\) but 30 line\(s\) hold strings: "
        r"write every label the same way",
    ):
        data.read_table(stray)
    # One list among single labels: the list's line is named, and what to do (not "expected a list").
    lists = write(
        tmp_path / "l.jsonl", "\n".join(rows[:4] + ['{"text": "both", "label": ["food", "tech"]}'] + rows[4:]) + "\n"
    )
    with pytest.raises(
        DataError,
        match=r'l.jsonl:5: field .label. is \["food", "tech"\] \(a list\) but 30 line\(s\) '
        r"hold strings: use a list on every line \(multi-label\) or one label",
    ):
        data.read_table(lists)
    # A single label among lists: that line, the same advice.
    many = [f'{{"text": "t{i}", "label": ["a", "b"]}}' for i in range(10)]
    single = write(tmp_path / "x.jsonl", "\n".join(many[:2] + ['{"text": "t", "label": "a"}'] + many[2:]) + "\n")
    with pytest.raises(DataError, match=r'x.jsonl:3: field .label. is "a" \(a string\) but 10 line\(s\) hold lists'):
        data.read_table(single)
    # Numeric strings are numbers ("1" is the label 1): not a mix. CSV cells are text: never a mix.
    assert data.read_table(write(tmp_path / "n.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "2"}\n'))[
        "label"
    ].tolist() == ["1", "2"]


def test_a_null_text_is_refused_at_its_line_in_every_reader(tmp_path):
    nulls = write(tmp_path / "t.jsonl", '{"text": "good", "label": "pos"}\n{"text": null, "label": "neg"}\n')
    with pytest.raises(DataError, match=r"t.jsonl:2: field 'text' is null; expected a text"):
        data.read_table(nulls)
    listed = write(tmp_path / "u.jsonl", '{"text": ["a", "b"], "label": "pos"}\n')
    with pytest.raises(DataError, match=r"u.jsonl:1: field 'text' is a JSON list; expected a text"):
        data.read_table(listed)
    captions = write(tmp_path / "c.jsonl", '{"image": "a.png", "caption": null}\n')
    with pytest.raises(DataError, match=r"c.jsonl:1: field 'caption' is null"):
        data.read_table(captions, text_column="caption", label_column="image")
    # Through the trainer: one line, before any fitting.
    from tfseq import cli

    rows = "".join(f'{{"text": "t{i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(60))
    train = write(tmp_path / "train.jsonl", rows + '{"text": null, "label": "a"}\n')
    assert cli.train_main(["task=classify", f"data.train={train}", f"run.root={tmp_path / 'runs'}"]) == 2


def test_a_folder_a_binary_file_and_a_huge_line_get_short_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"is a folder; expected a file"):
        data.read_table(tmp_path)
    binary = tmp_path / "model.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)))
    with pytest.raises(DataError, match=r"model.csv: not a text file \(a zip archive: extract it first\)") as error:
        data.read_table(binary)
    assert "iconv" not in str(error.value)
    # One 5 MB line read as a header: its "column name" is quoted in about 80 characters.
    huge = write(tmp_path / "huge.csv", "x" * 5_000_000 + "\n")
    with pytest.raises(DataError, match="missing column") as error:
        data.read_table(huge)
    assert len(str(error.value)) < 300 and "5,000,002 characters" in str(error.value)
    with pytest.raises(DataError) as error:
        data.read_conll(write(tmp_path / "c.txt", "a B\n" + "y" * 100_000 + "\n"))
    assert len(str(error.value)) < 300


def test_multi_label_tables_from_json_lists_or_a_separator(tmp_path):
    jsonl = write(
        tmp_path / "ml.jsonl",
        '{"text": "x", "label": ["pos", "funny"]}\n{"text": "y", "label": []}\n{"text": "z", "label": ["neg"]}\n',
    )
    assert data.read_table(jsonl)["label"].tolist() == [("funny", "pos"), (), ("neg",)]
    csv = write(tmp_path / "ml.csv", "text,label\nx,pos|funny\ny,\nz, neg \n")
    assert data.read_table(csv, label_separator="|")["label"].tolist() == [("funny", "pos"), (), ("neg",)]
    with pytest.raises(
        DataError,
        match=r'bad.jsonl:2: field .label. is \{"a": 1\} \(an object\) but 1 line\(s\) hold '
        r"lists: use a list on every line",
    ):
        data.read_table(
            write(tmp_path / "bad.jsonl", '{"text": "x", "label": ["a"]}\n{"text": "y", "label": {"a": 1}}\n')
        )
    train = write(
        tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{'a|b' if i % 2 else 'a'}\n" for i in range(40))
    )
    dataset = data.load(train=str(train), label_separator="|")
    assert dataset.multilabel and dataset.labels == ["a", "b"]
    assert dataset.describe()["labels"]["a"] == len(dataset.train)
    test = write(tmp_path / "test.csv", "text,label\nx,a\ny,b|c\n")
    with pytest.raises(DataError, match=r"test.csv:3: field 'label' has label \('b', 'c'\), never seen in training"):
        data.load(train=str(train), test=str(test), label_separator="|")


def test_unseen_label_and_single_class_are_errors(tmp_path):
    train = write(tmp_path / "train.tsv", "text\tlabel\n" + "".join(f"t{i}\t{'ab'[i % 2]}\n" for i in range(40)))
    test = write(tmp_path / "test.tsv", "text\tlabel\nx\ta\ny\tc\n")
    with pytest.raises(DataError, match=r"test.tsv:3: field 'label' has label 'c', never seen in training"):
        data.load(train=str(train), test=str(test))
    one = write(tmp_path / "one.tsv", "text\tlabel\n" + "".join(f"t{i}\ta\n" for i in range(20)))
    with pytest.raises(DataError, match="single class"):
        data.load(train=str(one))
    ds = data.load(train=str(train))
    assert sum(ds.sizes().values()) == 40


def test_a_label_whose_texts_all_fall_in_carved_splits_stays_in_train(tmp_path):
    from tfseq.data import split_of

    common = [f"t{i}" for i in range(200)]
    rare = [t for t in (f"rare {i}" for i in range(200)) if split_of(t) == "test"][:2]  # carved, by the hash
    rows = [(t, "ab"[i % 2]) for i, t in enumerate(common)] + [(t, "c") for t in rare]
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    dataset = data.load(train=str(train))
    assert sorted(set(dataset.train["label"])) == ["a", "b", "c"] and set(rare) <= set(dataset.train["text"])
    assert "c" not in set(dataset.validation["label"]) | set(dataset.test["label"])
    assert sum(dataset.sizes().values()) == 202  # nothing lost; the other labels carved as before
    assert dataset.card["notes"] == [
        "2 texts of 1 label(s) that only the carved validation and test held ('c' (2)) "
        "went back to train, so every label is learnt"
    ]
    assert (
        "notes"
        not in data.load(
            train=write(tmp_path / "plain.csv", "text,label\n" + "".join(f"{t},{label}\n" for t, label in rows[:200]))
        ).card
    )


def test_an_empty_test_or_validation_split_is_an_error_before_training(tmp_path):
    from tfseq.data import split_of

    texts = [t for t in (f"t{i}" for i in range(100)) if split_of(t) != "test"][:30]
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"{t},{'ab'[i % 2]}\n" for i, t in enumerate(texts)))
    with pytest.raises(
        DataError,
        match=r"train.csv: the test split is empty \(10% by content hash of the training "
        r"rows left none\); a run is scored on it: give data.test=<file> or more rows",
    ):
        data.load(train=str(train))
    # An empty validation file: nothing would choose the epoch, C or mix (Keras only warns).
    empty = write(tmp_path / "empty.csv", "text,label\n")
    with pytest.raises(
        DataError,
        match=r"empty.csv: the validation split is empty \(the file has no rows\); a run "
        r"chooses its best epoch and settings on it: give data.validation=<file>",
    ):
        data.load(train=str(train), validation=str(empty), test=str(train))
    # A big file the carve finds nothing in was cut by the same hash before: the message says so.
    cut = [t for t in (f"t{i}" for i in range(3000)) if split_of(t) == "train"][:300]
    cut = write(tmp_path / "cut.csv", "text,label\n" + "".join(f"{t},{'ab'[i % 2]}\n" for i, t in enumerate(cut)))
    with pytest.raises(DataError, match=r"left none of 300 rows: the file looks already cut by this hash"):
        data.load(train=str(cut))


def test_conll_reader(tmp_path):
    path = write(tmp_path / "c.txt", "-DOCSTART- -X- O\n\nHe PRP B-NP\nran VBD B-VP\n\nOk UH O\n")
    frame = data.read_conll(path)
    assert frame["tokens"].tolist() == [["He", "ran"], ["Ok"]]
    assert frame["tags"].tolist() == [["B-NP", "B-VP"], ["O"]]
    assert data.read_conll(path, tag_column=1)["tags"][0] == ["PRP", "VBD"]
    ragged = write(tmp_path / "r.txt", "He PRP B-NP\nran VBD\n")
    with pytest.raises(DataError, match=r"r.txt:2: expected 3 columns.*found 2"):
        data.read_conll(ragged)
    with pytest.raises(
        DataError,
        match=r"c.txt:3: expected at least 6 columns \(a token, then the tag in column 5, "
        r"counting from 0; -1: the last; data.tag_column\), found 3: 'He PRP B-NP'",
    ):
        data.read_conll(path, tag_column=5)


def test_a_tag_column_with_one_tag_is_an_error(tmp_path):
    # A CoNLL-U file's last column is mostly "_": the tags are elsewhere, and training on it
    # would score accuracy 1.0 on nothing.
    conllu = write(tmp_path / "u.conllu", "1 He he PRON _\n2 ran run VERB _\n\n1 Go go VERB _\n")
    with pytest.raises(
        DataError,
        match=r"u.conllu: every token is tagged '_' in column -1 \(data.tag_column; -1: the "
        r"last\), so a tagger has nothing to learn; choose the column",
    ):
        data.load(kind="tagging", train=str(conllu))
    tagged = data.load(kind="tagging", train=str(conllu), tag_column=3, validation=str(conllu), test=str(conllu))
    assert tagged.train["tags"][0] == ["PRON", "VERB"]


def test_parallel_and_plain_text(tmp_path):
    frame = data.read_parallel(write(tmp_path / "p.tsv", "hello\tola\nbye\ttchau\textra\n"))
    assert frame.values.tolist() == [["hello", "ola"], ["bye", "tchau"]]
    with pytest.raises(DataError, match=r"bad.tsv:2: expected 'source<TAB>target', found no tab: 'no tab here'"):
        data.read_parallel(write(tmp_path / "bad.tsv", "a\tb\nno tab here\n"))
    with pytest.raises(DataError, match=r"src.tsv:2: expected 'source<TAB>target', found an empty source"):
        data.read_parallel(write(tmp_path / "src.tsv", "a\tb\n \tB\n"))
    with pytest.raises(DataError, match=r"tgt.tsv:1: expected 'source<TAB>target', found an empty target"):
        data.read_parallel(write(tmp_path / "tgt.tsv", "a\t\r\n"))
    assert len(data.read_plain_text(write(tmp_path / "t.txt", "one\n\ntwo\n"))) == 2
    assert data.read_plain_text(write(tmp_path / "w.txt", "one\r\n\r\ntwo\r\n"))["text"].tolist() == ["one", "two"]


def test_image_captions_from_csv(tmp_path):
    import keras

    (tmp_path / "img").mkdir()
    keras.utils.save_img(
        tmp_path / "img" / "a.png", np.linspace(0, 255, 72).reshape(4, 6, 3).astype("uint8"), scale=False
    )
    captions = write(tmp_path / "cap.csv", "image,caption\na.png,a white square\na.png,blank\n")
    frame = data.read_image_captions(tmp_path / "img", captions)
    assert len(frame) == 2 and frame["image"][0].shape == (4, 6, 3) and frame["image"][0].max() == 1.0
    with pytest.raises(DataError, match="image 'b.png' not found"):
        data.read_image_captions(tmp_path / "img", write(tmp_path / "c2.csv", "image,caption\nb.png,x\n"))


def test_tfds_uses_real_load_with_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    from tfseq.data import tfds_source

    monkeypatch.setattr(tfds_source, "_reachable", lambda: True)  # mock_data stands in for the network too
    with tfds.testing.mock_data(num_examples=12):
        ds = data.load("tfds:imdb_reviews")
    assert ds.kind == "classification" and len(ds.train) > 0
    assert set(ds.labels) <= {"neg", "pos"}


def test_tfds_offline_gives_one_clear_message(tmp_path, monkeypatch):
    from tfseq.data import tfds_source

    assert not tfds_source._reachable(("127.0.0.1", 9), timeout=1.0)  # the probe: nothing listens there
    # Offline, the message comes at once (tfds.load alone retried downloads for minutes).
    monkeypatch.setattr(tfds_source, "_reachable", lambda: False)
    with pytest.raises(DataError, match=r"tfds:imdb_reviews is not on this machine.*unreachable.*local files"):
        data.load("tfds:imdb_reviews", data_dir=str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(DataError, match=r"unknown dataset 'nope'.*reviews-zh"):
        data.load("nope")


def test_vectorizer_vocabulary_oov_padding_and_truncation():
    import tensorflow as tf

    vec = data.TextVectorizer(split="character", ngrams=(1, 2), max_length=4)
    vec.adapt(["好看的书", "好看", "不好"], min_frequency=2)
    assert vec.vocabularies[1] == ["好", "看"] and vec.vocabularies[2] == ["好看"]
    out = vec(tf.constant(["好看极了好看", "", "书"]))
    np.testing.assert_array_equal(out["tokens"].numpy(), [[2, 3, 1, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(out["ngrams_2"].numpy()[0], [2, 1, 1, 0])
    words = data.TextVectorizer(split="word", lowercase=False)
    words.adapt(["The cat", "the dog"])
    assert "The" in words.vocabularies[1] and "the" in words.vocabularies[1]
    texts = ["The cat", "the dog", "a cat"]  # rows already tokenized (word2vec's): the same vocabulary
    given = data.TextVectorizer(split="word").adapt(texts, tokens=data.TextVectorizer(split="word").tokenize(texts))
    assert given.vocabularies == data.TextVectorizer(split="word").adapt(texts).vocabularies
    with pytest.raises(ValueError, match="subword split learns its pieces"):
        data.TextVectorizer(split="subword").adapt(texts, tokens=[["the"]])
    config = vec.get_config()
    again = data.TextVectorizer.from_config(config)
    np.testing.assert_array_equal(again(tf.constant(["好看"]))["tokens"], vec(tf.constant(["好看"]))["tokens"])


def test_vectorizer_both_ways_ids_in_python_equal_the_layer_and_read_back_as_text():
    import tensorflow as tf

    words = data.TextVectorizer(split="word").adapt(["the cat sat", "the dog sat down"], reserved=("<s>", "</s>"))
    assert words.vocabularies[1][:2] == ["<s>", "</s>"]  # ids 2 and 3 whatever their frequency
    texts = ["The cat  sat\u3000down", "a dog", ""]
    layer = [[i for i in row if i] for row in words(tf.constant(texts))["tokens"].numpy().tolist()]
    assert words.token_ids(texts) == layer == [[5, 6, 4, 8], [1, 7], []]  # sat, the: 2 each (ties: a-z)
    back = words.detokenize(words(tf.constant(texts))["tokens"]).numpy().tolist()
    assert back == [b"the cat sat down", b"\xef\xbf\xbd dog", b""]  # normalised text; OOV reads U+FFFD
    ids = [[2, 4, 6, 3, 5], [4, 2, 2, 0, 0]]
    assert words.detokenize(ids, end=3, drop=(2,)).numpy().tolist() == [b"sat cat", b"sat"]
    assert words.detokenize(ids, replace={2: "\n"}).numpy().tolist() == [b"\nsat cat </s> the", b"sat\n\n"]
    chars = data.TextVectorizer(split="character", keep_whitespace=True).adapt(["ab c"], reserved=("\n",))
    assert chars.detokenize([chars.token_ids(["a b"])[0]], replace={2: "\n"}).numpy().tolist() == [b"a b"]


def test_wordpunct_cuts_punctuation_from_words_and_gives_the_spacing_back():
    import tensorflow as tf

    vec = data.TextVectorizer(split="wordpunct")
    texts = ["Go.", "  Hello,  world! ", "", " \t ", "C'est l'été (3.5%)...", "中国人民", "a\u2581b"]
    tokens = vec.tokenize(texts)
    assert tokens[:2] == [["\u2581go", "."], ["\u2581hello", ",", "\u2581world", "!"]]  # "go" in "Go." is "go"
    assert tokens[2:4] == [[], []] and tokens[6] == ["\u2581a", "\u2581b"]  # the mark reads as a space
    assert tokens[4] == ["\u2581c", "'", "est", "\u2581l", "'", "été", "\u2581(", "3", ".", "5", "%)..."]
    spaced = ["go.", "hello, world!", "", "", "c'est l'été (3.5%)...", "中国人民", "a b"]
    assert [vec.join(row) for row in tokens] == spaced
    vec.adapt(texts)
    assert [t.decode() for t in vec.detokenize(vec(tf.constant(texts))["tokens"]).numpy()] == spaced
    assert data.TextVectorizer.from_config(vec.get_config()).tokenize(["Go!"]) == [["\u2581go", "!"]]


def test_token_chars_are_each_tokens_own_grams_in_its_case_aligned_with_the_tokens():
    import tensorflow as tf

    vec = data.TextVectorizer(split="word", token_chars=(2, 3)).adapt(["The cat", "the Cat sat"])
    assert "Th" in vec.token_char_vocabulary and " C" in vec.token_char_vocabulary  # case kept
    out = vec(tf.constant(["The cat", "", "sat The cat mat"]))
    assert out["token_chars"].shape[:2] == out["tokens"].shape and out["token_chars"].shape[0] == 3
    index = {g: i + 2 for i, g in enumerate(vec.token_char_vocabulary)}
    grams = [" T", "Th", "he", "e ", " Th", "The", "he "]  # " The " 2-grams, then 3-grams
    assert out["token_chars"].numpy()[0, 0].tolist()[:7] == [index[g] for g in grams]
    assert not out["token_chars"].numpy()[1].any()
    again = data.TextVectorizer.from_config(vec.get_config())
    np.testing.assert_array_equal(
        again(tf.constant(["The cat", "", "sat The cat mat"]))["token_chars"], out["token_chars"]
    )
    with pytest.raises(ValueError, match="token_chars must be"):
        data.TextVectorizer(split="character", token_chars=(2, 3))


def test_each_words_characters_travel_unpadded_and_batches_match_the_padded_arrays():
    """Memory that follows the data: ``token_chars`` is held ragged in the pipeline (not padded to
    the split's longest sentence and word) and each batch is the padded arrays' rows, cut to the
    batch's longest sentence and word; the tokenizer runs a chunk of texts at a time."""
    rng = np.random.default_rng(0)
    words = ["a", "cat", "Sat", "extraordinarily", "on", "the", "mat", "x"]
    texts = [" ".join(rng.choice(words, int(rng.integers(0, 9)))) for _ in range(60)]
    vec = data.TextVectorizer(split="word", token_chars=(1, 1)).adapt(texts)
    pre = data.TokenTaggerPreprocessor(vec, ["B", "I"])
    features = pre.inputs(texts)
    for key, value in pre.inputs(texts, chunk=7).items():  # chunks give the same arrays
        np.testing.assert_array_equal(value, features[key])
    held = pre.inputs(texts, chunk=7, ragged=True)  # what the tag task holds: each word's ids, unpadded
    assert held["token_chars"].flat_values.shape[0] == int((features["token_chars"] != 0).sum())
    padded = held["token_chars"].to_tensor().numpy()
    np.testing.assert_array_equal(padded, features["token_chars"][:, : padded.shape[1], : padded.shape[2]])
    assert (
        not features["token_chars"][:, padded.shape[1] :].any()
        and not features["token_chars"][..., padded.shape[2] :].any()
    )
    tags = [np.ones(int((row != 0).sum()), "int32") for row in features["tokens"]]
    for batch, _ in data.make_dataset(held, tags, batch_size=8, boundaries=[3, 6]):  # ragged in, dense batches
        assert batch["token_chars"].shape[:2] == batch["tokens"].shape
    dataset = data.make_dataset(features, tags, batch_size=8, boundaries=[3, 6])
    seen = 0
    for batch, _ in dataset:
        tokens, grams = batch["tokens"].numpy(), batch["token_chars"].numpy()
        assert grams.shape[:2] == tokens.shape and grams.shape[2] <= features["token_chars"].shape[2]
        for row, chars_row in zip(tokens, grams):
            (i,) = [
                i
                for i in range(len(texts))
                if (features["tokens"][i, : len(row)] == row).all() and not features["tokens"][i, len(row) :].any()
            ][:1]
            width = grams.shape[2]
            np.testing.assert_array_equal(features["token_chars"][i, : len(row), :width], chars_row)
            assert not features["token_chars"][i, : len(row), width:].any()  # only padding cut
            seen += 1
    assert seen == len(texts)
    assert max(b["token_chars"].shape[2] for b, _ in dataset) == features["token_chars"].shape[2]
    assert min(b["token_chars"].shape[2] for b, _ in dataset) < features["token_chars"].shape[2]


def test_char_ngrams_are_the_bag_scikit_learn_counts():
    import tensorflow as tf
    from sklearn.feature_extraction.text import CountVectorizer

    texts = ["Déjà vu, again", "again and again", "vu", ""]
    vec = data.TextVectorizer(split="word", char_ngrams=(2, 4), max_length=3)
    vec.adapt(texts)
    ids = vec(tf.constant(texts))["chars"].numpy()
    # scikit-learn's char_wb analyzer on the same (lower-cased, truncated) words.
    analyzer = CountVectorizer(analyzer="char_wb", ngram_range=(2, 4)).build_analyzer()
    names = ["", "<oov>", *vec.char_vocabulary]
    for tokens, row in zip(vec.tokenize(texts), ids):
        words = " ".join(tokens)
        expected = sorted(g for w in words.split() for g in analyzer(w))
        assert sorted(names[i] for i in row if i) == expected
    assert vec.vocabulary_sizes()["chars"] == len(vec.char_vocabulary) + 2
    again = data.TextVectorizer.from_config(vec.get_config())
    np.testing.assert_array_equal(again(tf.constant(texts))["chars"], ids)
    # Through the pipeline the bag keeps its own length, the aligned keys the tokens' length.
    features = {k: v.numpy() for k, v in vec(tf.constant(texts)).items()}
    for batch in data.make_dataset(features, np.arange(4), batch_size=4, boundaries=[2, 3]):
        x = batch[0]
        assert x["chars"].shape[1] == max(int((ids[i] > 0).sum()) for i in batch[1].numpy())
        assert x["tokens"].shape[1] == max(int((features["tokens"][i] > 0).sum()) for i in batch[1].numpy())
    with pytest.raises(ValueError, match="char_ngrams"):
        data.TextVectorizer(split="character", char_ngrams=(2, 4))
    with pytest.raises(ValueError, match="char_ngrams"):
        data.TextVectorizer(split="word", char_ngrams=(3, 2))


def test_bucketing_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=2000)
    ids = np.zeros((2000, 120), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(2, 50, size=n)
    features, labels = {"tokens": ids}, rng.integers(0, 2, size=2000)
    plain = data.make_dataset(features, labels, batch_size=32, shuffle=True)
    bucketed = data.make_dataset(
        features, labels, batch_size=32, shuffle=True, boundaries=data.bucket_boundaries(lengths)
    )
    padded_plain, real = data.padding_ratio(plain)
    padded_bucketed, real2 = data.padding_ratio(bucketed)
    assert real == real2 == lengths.sum()
    assert padded_bucketed / real < 1.15 < padded_plain / real
    assert int(bucketed.cardinality()) == sum(1 for _ in bucketed)  # known before the first epoch
    batch = next(iter(bucketed))
    assert batch[0]["tokens"].shape[0] <= 32 and batch[1].shape[0] == batch[0]["tokens"].shape[0]


def test_a_batch_of_texts_without_tokens_still_has_a_step():
    # Empty lines of a user's file share the shortest bucket; a batch of them alone was a
    # zero-length sequence, and training crashed in the recurrent loop ("slice index 0 of
    # dimension 0 out of bounds"). Now it is one padded (masked) step.
    ids = np.zeros((6, 5), "int32")
    ids[:2, :5] = 7
    batches = list(data.make_dataset({"tokens": ids}, np.arange(6) % 2, batch_size=2, boundaries=[2, 4]))
    assert sorted(int(b[0]["tokens"].shape[1]) for b in batches) == [1, 1, 5]
    assert all(not np.asarray(b[0]["tokens"]).any() for b in batches if b[0]["tokens"].shape[1] == 1)
    tags = [[3, 4, 5, 3, 4], [3, 4, 5, 3, 4], [], [], [], []]  # per-step targets keep the step too
    for features, targets in data.make_dataset({"tokens": ids}, np.array(tags, dtype=object), batch_size=2):
        assert features["tokens"].shape[1] == targets.shape[1] >= 1


def test_bucket_boundaries_bound_the_waste_in_a_long_tail():
    # Review-like lengths: most short, a tail 50x the median.
    lengths = np.minimum(np.random.default_rng(1).lognormal(3.8, 0.8, size=5000).astype(int) + 1, 3000)
    bounds = data.bucket_boundaries(lengths, max_waste=0.1)
    assert bounds == sorted(set(bounds)) and bounds[-1] > lengths.max()
    edges = [int(lengths.min())] + bounds
    for lo, hi in zip(edges, edges[1:]):
        assert hi - 1 <= max(lo * 1.1, lo + 1), (lo, hi)
    # Any batch drawn from one bucket pads each example by at most 10% of its length.
    bucket = np.searchsorted(bounds, lengths, side="right")
    for b in np.unique(bucket):
        members = lengths[bucket == b]
        assert members.max() <= max(members.min() * 1.1, members.min() + 1)
    with pytest.raises(ValueError, match="max_waste"):
        data.bucket_boundaries(lengths, max_waste=0)


CONLLU = """# newdoc id = weblog-1
# sent_id = 1
# text = John's in New York.
1-2	John's	_	_	_	_	_	_	_	_
1	John	John	PROPN	NNP	Number=Sing	3	nsubj	_	_
2	's	be	AUX	VBZ	_	3	cop	_	_
3	in	in	ADP	IN	_	5	case	_	_
4	New	New	PROPN	NNP	_	5	compound	_	_
5	York	York	PROPN	NNP	_	0	root	_	SpaceAfter=No
5.1	is	be	AUX	VBZ	_	_	_	3:cop	_
6	.	.	PUNCT	.	_	5	punct	_	_

# sent_id = 2
# text = # tags
1	#	#	SYM	NFP	_	2	dep	_	_
2	tags	tag	NOUN	NNS	_	0	root	_	_
"""


def test_conllu_files_skip_comments_and_choose_the_tag_column_by_name(tmp_path):
    from tfseq.data import read_conll

    path = tmp_path / "en_ewt.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    frame = read_conll(path, tag_column="upos")
    assert [list(t) for t in frame["tokens"]] == [["John", "'s", "in", "New", "York", "."], ["#", "tags"]]
    assert list(frame["tags"][0]) == ["PROPN", "AUX", "ADP", "PROPN", "PROPN", "PUNCT"]
    assert list(read_conll(path, tag_column=4)["tags"][1]) == ["NFP", "NNS"]  # xpos, by number
    assert list(read_conll(path, tag_column="DEPREL")["tags"][1]) == ["dep", "root"]
    with pytest.raises(DataError, match="data.tag_column=ner: not a CoNLL-U column; expected one of id, form"):
        read_conll(path, tag_column="ner")
    plain = tmp_path / "chunks.txt"
    plain.write_text("# # B-NP\n1 CD I-NP\n")  # CoNLL-2000: '#' is a token there, not a comment
    assert list(read_conll(plain)["tokens"][0]) == ["#", "1"]
    with pytest.raises(DataError, match="names a CoNLL-U column, but the file is not CoNLL-U"):
        read_conll(plain, tag_column="upos")
    # The default (-1: the last column, misc) is mostly '_': the error points at the name to use.
    misc = tmp_path / "misc.conllu"
    misc.write_text(CONLLU.replace("SpaceAfter=No", "_"), encoding="utf-8")
    with pytest.raises(DataError, match=r"or, in this CoNLL-U file, its name \(data.tag_column=upos\)"):
        data.load(kind="tagging", train=str(misc))


def test_tag_column_takes_a_conllu_name_on_the_command_line():
    from tfseq import cli

    assert recipes.resolve("tag", [("data.tag_column", "upos")]).data.tag_column == "upos"
    with pytest.raises(cli.UsageError, match="data.tag_column: 'ner': expected a number or one of id, form"):
        recipes.resolve("tag", [("data.tag_column", "ner")])
