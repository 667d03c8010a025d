"""Person-grouped, seeded cross-fitting folds: one person's rows are never in both training and test."""

from __future__ import annotations

import numpy as np

from models._checks import _check_int

Fold = tuple[np.ndarray, np.ndarray]


def group_codes(groups: np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 for any array of group labels (persons, municipalities)."""
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    return codes.astype(np.int64)


def person_folds(groups: np.ndarray, n_folds: int = 5, n_reps: int = 1, seed: int = 0) -> list[list[Fold]]:
    """Draw ``n_reps`` partitions of the rows into ``n_folds`` folds by group (GroupKFold-like, seeded).

    Parameters
    ----------
    groups : numpy.ndarray
        One group label per row (the person). Every row of a group lands in the same test fold.
    n_folds : int
        Folds per repetition (at least 2, at most the number of groups).
    n_reps : int
        Repetitions of the split (DoubleML's ``n_rep``).
    seed : int
        Seed; repetition ``r`` uses ``numpy.random.default_rng([seed, r])``.

    Returns
    -------
    list of list of (train_idx, test_idx)
        The format of :meth:`doubleml.DoubleML.set_sample_splitting`.
    """
    _check_int("n_folds", n_folds, 2)
    _check_int("n_reps", n_reps, 1)
    codes = group_codes(groups)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if n_groups < n_folds:
        raise ValueError(f"n_folds={n_folds} is larger than the number of persons ({n_groups})")
    rows = np.arange(codes.size)
    out: list[list[Fold]] = []
    for r in range(n_reps):
        rng = np.random.default_rng([int(seed), r])
        fold_of_group = np.empty(n_groups, dtype=np.int64)
        fold_of_group[rng.permutation(n_groups)] = np.arange(n_groups) % n_folds
        fold = fold_of_group[codes]
        out.append([(rows[fold != k], rows[fold == k]) for k in range(n_folds)])
    return out


def restrict_folds(all_folds: list[list[Fold]], keep: np.ndarray) -> list[list[Fold]]:
    """The same folds on a subset of rows (``keep`` boolean mask), re-indexed to the subset."""
    new_index = np.cumsum(keep) - 1
    return [[(new_index[tr[keep[tr]]], new_index[te[keep[te]]]) for tr, te in folds] for folds in all_folds]
