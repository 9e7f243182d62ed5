"""A configuration file that is wrong is refused in one line that names the file and the line;
YAML aliases and duplicate keys are refused, so a small file cannot expand or hide a tenant."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.cli import main

TENANT = """\
tenants:
  demo:
    credentials: [{api_key: a, api_token: b}]
    numbers: [{number: "+916292134464", region: WB, type: mobile}]
"""
VN_AGAIN = '{number: "+916292134464", region: WB, type: mobile}'
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (TENANT + "  demo:\n    credentials: []\n",
         "{f}, line 5, column 3: key 'demo' is given twice (first on line 2)"),
        (BOMB, "{f}, line 2, column 8: an alias (*a) is not allowed here; write the value out"),
        (TENANT.replace("type: mobile}]", "type: mobile}, " + VN_AGAIN + "]"),
         "{f}: +916292134464 is listed twice in the pool of demo"),
        (TENANT.replace("WB", "XX"),
         "{f} is not valid: line 4, tenants/demo/numbers/0/region: 'XX' is not one of"),
        ("tenants: [\n", "{f}, line 2, column 1: expected the node content"),
        (b"\xff\xfetenants", "{f} is not UTF-8 text (byte 0)"),
        ("x" * 1_100_000, "{f} is over 1,048,576 bytes"),
    ],
    ids=["duplicate-key", "alias-bomb", "vn-twice", "invalid", "syntax", "not-utf8", "too-big"],
)
def test_a_wrong_file_is_one_line_naming_it(tmp_path: Path, capsys, content, says):
    path = tmp_path / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("exomock: " + says.format(f=path)), err
    assert len(err) < 400


def test_the_same_number_in_two_tenants_names_both(tmp_path: Path, capsys):
    other = TENANT.replace("demo", "other").replace("api_key: a", "api_key: c")
    path = tmp_path / "config.yaml"
    path.write_text(TENANT + other.split("tenants:\n", 1)[1])
    assert main(["serve", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"exomock: {path}: +916292134464 is in the pools of both demo and other\n"
    )
