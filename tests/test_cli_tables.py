"""The command line's tables: ids, enough digits to tell rows apart, ties said, headers whole."""

from optfn import _cli_tables as tables


def _trial(i, m, **hp):
    return {"id": i, "metric": m, "steps": 10, "status": "ok", "hyperparams": hp}


def test_rows_are_told_apart_ties_are_said_and_headers_are_whole():
    name = "a_rather_long_hyperparameter_name"
    trials = [_trial(7, 0.1234561, **{name: 0.1}), _trial(3, 0.1234562, **{name: 0.2}),
              _trial(5, 0.1234562, **{name: 0.3}), _trial(1, 0.5, **{name: 0.4})]
    rows = [line.split() for line in tables.ranked(trials, [name], "val_loss").splitlines()]
    assert rows[0] == ["rank", "id", "val_loss", name, "steps"]
    assert [r[0] for r in rows[1:]] == ["1", "2=", "2=", "4"] and [r[1] for r in rows[1:]] == ["7", "3", "5", "1"]
    assert rows[1][2] == "0.1234561" and rows[2][2] == rows[3][2] == "0.1234562"  # 7 digits, as needed


def test_the_confirmation_lists_failed_configurations_with_their_replicas():
    class Result:
        trials = [{**_trial(4, 0.2, lr=0.1), "metric_std": 0.01, "replica_status": ["ok"] * 3},
                  {**_trial(9, float("nan"), lr=0.9), "status": "diverged", "metric_std": float("nan"),
                   "replica_status": ["ok", "diverged", "ok"]}]

        def top(self, k):
            return self.trials[:1]

    rows = [line.split() for line in tables.confirmed(Result(), ["lr"], "val_loss").splitlines()]
    assert rows[0] == ["rank", "id", "val_loss_mean", "std", "ok_replicas", "status", "lr"]
    assert rows[1][:2] == ["1", "4"] and rows[1][4:6] == ["3/3", "ok"]
    assert rows[2][:3] == ["-", "9", "-"] and rows[2][4:6] == ["2/3", "diverged"]
