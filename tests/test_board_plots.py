"""The plots' arithmetic."""

import numpy as np

from facebench.board.plots import mean_matrix

nan = np.nan


def test_mean_matrix_averages_the_finite_entries_of_matrices_padded_to_the_largest_shape():
    sequential = np.array([[1.0, nan], [2.0, 4.0]])  # 2 x 2, null above the diagonal
    joint = np.array([[3.0, 5.0]])                    # 1 x 2
    longer = np.array([[5.0, nan, 7.0]])              # 1 x 3: wider than the others
    # padded to 2 x 3 with NaN; [0][0] = (1 + 3 + 5) / 3, [0][1] = 5 (the only finite entry),
    # [0][2] = 7, [1][0] = 2, [1][1] = 4, [1][2]: no finite entry
    expected = np.array([[3.0, 5.0, 7.0], [2.0, 4.0, nan]])
    np.testing.assert_array_equal(mean_matrix([sequential, joint, longer]), expected)
