"""Running the CLI in-process and checking its one-line errors (shared by the CLI test files)."""

from __future__ import annotations

from consensus.cli import main


def run(capsys, *argv):  # noqa: ANN001, ANN201
    """``consensus *argv`` in-process: ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code, err, command, *parts, alone=True) -> None:  # noqa: ANN001
    """Exit 2, no traceback, the last stderr line is ``consensus COMMAND: error: ...`` holding every part.

    ``alone``: it is the only stderr line (commands that log before failing pass False).
    """
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    if alone:
        assert len(lines) == 1, err
    assert [line for line in lines if "error:" in line] == lines[-1:], err
    assert lines[-1].startswith(f"consensus {command}: error: "), lines[-1]
    for part in parts:
        assert str(part) in lines[-1], (part, lines[-1])
