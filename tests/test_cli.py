"""The ``upnn`` command (upnn.cli): subcommands with --help, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from upnn import claims, cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli.COMMANDS)
    assert cli.main([]) == 2  # no command: usage, and a failing exit


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([name, "--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out


def test_unknown_command_is_one_line(capsys):
    assert cli.main(["plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'plot'" in err and "allowed: plan, claims" in err


def test_claims_prints_a_table(tmp_path, capsys):
    from test_claims import attack_table

    table = claims.table({"attacks": attack_table({"a": -0.03})}, sources={"d": "mnist"},
                         config="c.yaml", n_boot=50)
    table.to_parquet(tmp_path / "claims.parquet")
    assert cli.main(["claims", str(tmp_path / "claims.parquet")]) == 0
    assert "| # | claim | the papers say" in capsys.readouterr().out
    assert cli.main(["claims", str(tmp_path / "claims.parquet"), "--full"]) == 0
    assert "# Claims of the papers, checked on `c.yaml`" in capsys.readouterr().out
    assert np.isfinite(table["value"]).any()
