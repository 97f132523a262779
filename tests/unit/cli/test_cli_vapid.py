"""`pushcast vapid generate|public-key`: the README's paths work on a fresh checkout, and
every mistake is one line naming the argument (exit 1), never a traceback."""

import stat

from connectors.push.vapid import load_signer
from engine.cli import main


def test_generate_makes_the_missing_folder_and_prints_the_key_public_key_reads_back(tmp_path, capsys):
    key = tmp_path / ".pushcast" / "vapid_private.pem"
    assert main(["vapid", "generate", "--out", str(key)]) == 0
    printed = capsys.readouterr().out.strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert printed == load_signer(key, "mailto:ops@shop.example").public_key

    assert main(["vapid", "public-key", str(key)]) == 0
    public = capsys.readouterr().out.strip()
    assert public == printed
    assert len(public) == 87 and "=" not in public  # 65 bytes (0x04, x, y), base64url unpadded


def test_generate_refuses_to_replace_a_key_without_force(tmp_path, capsys):
    key = tmp_path / "k.pem"
    main(["vapid", "generate", "--out", str(key)])
    first = capsys.readouterr().out.strip()
    assert main(["vapid", "generate", "--out", str(key)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and "pass --force" in err
    assert main(["vapid", "public-key", str(key)]) == 0
    assert capsys.readouterr().out.strip() == first
    assert main(["vapid", "generate", "--out", str(key), "--force"]) == 0
    assert capsys.readouterr().out.strip() != first


def test_generate_into_a_folder_or_under_a_file_is_an_error_naming_out(tmp_path, capsys):
    assert main(["vapid", "generate", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and "is a folder" in err and "Traceback" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["vapid", "generate", "--out", str(blocker / "k.pem")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --out: cannot write") and "Traceback" not in err


def test_public_key_errors_name_the_keyfile_and_how_to_make_one(tmp_path, capsys):
    missing = tmp_path / "nope.pem"
    assert main(["vapid", "public-key", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: KEYFILE:") and f"pushcast vapid generate --out {missing}" in err
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    assert main(["vapid", "public-key", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: KEYFILE:") and "not an unencrypted PEM private key" in err
    assert main(["vapid", "public-key", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
