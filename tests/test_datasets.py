"""plugnet.datasets: .npz and .csv files, the built-in sets, splits, and their errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from plugnet import datasets
from plugnet.datasets import load, numpy_split_indices, split, train_test_split

# -- .npz ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target_name", ["t", "y"])
def test_npz_with_x_and_t_or_y(tmp_path: Path, target_name: str) -> None:
    x, t = np.arange(12.0).reshape(6, 2), np.array([0, 1, 0, 1, 2, 2])
    np.savez(tmp_path / "d.npz", x=x, **{target_name: t})
    data = load(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.x, x)
    np.testing.assert_array_equal(data.t, t)
    assert data.classification and len(data) == 6 and data.name == "d.npz"


def test_npz_relative_to_base_dir_and_1d_inputs(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.arange(4.0), t=np.arange(4.0) * 2)
    data = load("d.npz", base_dir=tmp_path)
    assert data.x.shape == (4, 1) and not data.classification


def test_npz_without_the_expected_arrays_names_what_it_has(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(ValueError, match=r"has arrays a, b; expected x and t \(or y\)"):
        load(tmp_path / "d.npz")


def test_npz_without_targets_is_fine_for_prediction(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)))
    assert load(tmp_path / "d.npz", require_targets=False).t is None
    with pytest.raises(ValueError, match="has arrays x; expected x and t"):
        load(tmp_path / "d.npz")


def test_npz_sample_counts_must_match(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), t=np.zeros(4))
    with pytest.raises(ValueError, match="x has 3 samples but t has shape"):
        load(tmp_path / "d.npz")


def test_npz_that_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "d.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match=r"not a readable \.npz file"):
        load(tmp_path / "d.npz")


def test_npz_object_arrays_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.array([{"a": 1}], dtype=object), t=np.zeros(1))
    with pytest.raises(ValueError, match="cannot read its arrays"):
        load(tmp_path / "d.npz")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such data file"):
        load(tmp_path / "nothing.csv")


# -- .csv ----------------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_a_named_label_column(tmp_path: Path) -> None:
    file = write(tmp_path / "d.csv", "a,label,b\n1,0,2\n3,1,4\n5,1,6\n")
    data = load(file)
    np.testing.assert_array_equal(data.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(data.t, [0, 1, 1])
    assert data.t is not None and data.t.dtype == np.int64


def test_csv_label_column_option_and_last_column_default(tmp_path: Path) -> None:
    file = write(tmp_path / "d.csv", "class,a,b\n2,1.5,2\n0,3,4.25\n")
    np.testing.assert_array_equal(load(file, label_column="class").t, [2, 0])
    last = load(file)  # no column named "label": the last one
    np.testing.assert_array_equal(last.x, [[2, 1.5], [0, 3]])
    np.testing.assert_array_equal(last.t, [2, 4.25])
    assert last.t is not None and last.t.dtype.kind == "f" and not last.classification


def test_csv_non_numeric_cell_names_row_and_column(tmp_path: Path) -> None:
    file = write(tmp_path / "d.csv", "a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(ValueError, match=r"row 3, column 'b': 'oops' is not a number"):
        load(file)


def test_csv_ragged_and_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="row 3 has 2 cells but the header has 3"):
        load(write(tmp_path / "r.csv", "a,b,label\n1,2,0\n3,4\n"))
    with pytest.raises(ValueError, match="empty"):
        load(write(tmp_path / "e.csv", ""))
    with pytest.raises(ValueError, match="no data rows"):
        load(write(tmp_path / "h.csv", "a,label\n"))
    with pytest.raises(ValueError, match="NaN or infinite"):
        load(write(tmp_path / "n.csv", "a,label\nnan,1\n"))


def test_csv_for_prediction_without_label_column(tmp_path: Path) -> None:
    file = write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n")
    data = load(file, require_targets=False)
    assert data.t is None and data.x.shape == (2, 2)


def test_unsupported_file_type(tmp_path: Path) -> None:
    write(tmp_path / "d.txt", "1,2\n")
    with pytest.raises(ValueError, match=r"unsupported data file type '\.txt'"):
        load(str(tmp_path / "d.txt"))


# -- built-in sets -------------------------------------------------------------------------------


def test_xor_is_the_four_points_by_default() -> None:
    data = datasets.xor()
    np.testing.assert_array_equal(data.x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.t, [0, 1, 1, 0])


def test_noisy_xor_is_deterministic_and_balanced() -> None:
    a, b = datasets.xor(n=100, noise=0.1, seed=3), datasets.xor(n=100, noise=0.1, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, datasets.xor(n=100, noise=0.1, seed=4).x)
    assert a.x.shape == (100, 2) and np.bincount(a.t).tolist() == [50, 50]


def test_spiral_shapes_and_determinism() -> None:
    data = datasets.spiral(n=40, classes=4, noise=0.1, seed=1)
    assert data.x.shape == (160, 2) and np.bincount(data.t).tolist() == [40] * 4
    np.testing.assert_array_equal(data.x, datasets.spiral(n=40, classes=4, noise=0.1, seed=1).x)
    assert np.abs(data.x).max() <= 1.0


def test_sine_is_regression_on_minus_pi_to_pi() -> None:
    data = datasets.sine(n=50, noise=0.0, seed=2)
    assert data.x.shape == (50, 1) and data.t is not None and data.t.shape == (50, 1)
    assert np.all(np.abs(data.x) <= np.pi)
    np.testing.assert_allclose(data.t, np.sin(data.x))
    assert not data.classification


def test_toy_sets_by_name_with_options() -> None:
    data = load("spiral", n=10, classes=2, seed=5)
    np.testing.assert_array_equal(data.x, datasets.spiral(n=10, classes=2, seed=5).x)
    with pytest.raises(ValueError, match="the sine data set does not take classes"):
        load("sine", classes=3)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        load("xor", n=0)


def test_unknown_toy_set_suggests_and_lists() -> None:
    listed = "breast_cancer, digits, iris, sine, spiral, wine, xor"  # from the registry
    with pytest.raises(LookupError, match=rf"Did you mean 'spiral'\?.*{listed}"):
        load("spirl")


def test_digits() -> None:
    data = load("digits")
    assert data.x.shape == (1797, 64) and data.x.max() == 1.0 and data.x.min() == 0.0
    assert data.classification and sorted(set(data.t.tolist())) == list(range(10))


def test_digits_without_sklearn_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "plugnet\[examples\]"'):
        load("digits")


# -- splits --------------------------------------------------------------------------------------


def test_split_is_sklearns_when_installed() -> None:
    from sklearn import model_selection

    data = datasets.spiral(n=30, seed=0)
    ours = train_test_split(data.x, data.t, test_size=0.25, random_state=0)
    theirs = model_selection.train_test_split(
        data.x, data.t, test_size=0.25, stratify=data.t, random_state=0
    )
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_numpy_split_is_stratified_and_deterministic() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, test = numpy_split_indices(100, 0.25, 0, labels)
    assert len(test) == 25 and len(train) == 75
    assert sorted([*train, *test]) == list(range(100))
    counts = np.bincount(labels[test]).tolist()
    expected = [12.5, 7.5, 5.0]
    assert sum(counts) == 25
    assert all(abs(c - e) <= 1 for c, e in zip(counts, expected, strict=True))
    again = numpy_split_indices(100, 0.25, 0, labels)
    np.testing.assert_array_equal(test, again[1])
    assert not np.array_equal(np.sort(test), np.sort(numpy_split_indices(100, 0.25, 1, labels)[1]))


def test_numpy_split_errors() -> None:
    with pytest.raises(ValueError, match="only 1 sample"):
        numpy_split_indices(5, 0.4, 0, np.array([0, 0, 1, 1, 2]))
    with pytest.raises(ValueError, match="fewer than the 3 classes"):
        numpy_split_indices(6, 0.2, 0, np.array([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        numpy_split_indices(6, 1.0, 0)


def test_split_falls_back_to_numpy_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)
    data = datasets.spiral(n=20, seed=0)
    x_train, x_test, t_train, t_test = train_test_split(data.x, data.t, test_size=0.25)
    assert x_test.shape == (15, 2) and np.bincount(t_test).tolist() == [5, 5, 5]
    assert x_train.shape == (45, 2) and len(t_train) == 45


def test_split_into_train_validation_and_test() -> None:
    parts = split(datasets.spiral(n=40, seed=0), test_size=0.25, validation_split=0.2)
    assert parts.test is not None and parts.validation is not None
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (72, 18, 30)
    none = split(datasets.sine(n=20), test_size=0, validation_split=0)
    assert none.test is None and none.validation is None and len(none.train) == 20


def test_a_split_that_cannot_be_made_is_refused_in_our_words() -> None:
    data = datasets.xor()  # four points, two classes
    with pytest.raises(ValueError, match="1 test and 3 training samples, fewer than the 2 classes"):
        train_test_split(data.x, data.t, test_size=0.25)  # scikit-learn would say it otherwise
    assert datasets.split_problem(4, 0.5, data.t) is None
    assert datasets.split_problem(4, 0.25, None) is None
    assert datasets.split_problem(3, 0.5, np.array([0, 0, 1])) == (
        "class 1 has only 1 sample; stratifying needs at least 2 per class "
        "(turn stratification off)"
    )
    assert "leaves no training or no test samples" in str(datasets.split_problem(1, 0.5))


def test_the_package_surface_is_its_all_and_toy_stays_the_function() -> None:
    import importlib

    import plugnet.datasets as package

    for name in package.__all__:
        assert hasattr(package, name), name
    assert callable(package.toy) and package.toy.__module__ == "plugnet.datasets.toy_sets"
    for module in ("base", "toy_sets", "files", "splits"):
        assert importlib.import_module(f"plugnet.datasets.{module}").__name__.endswith(module)
