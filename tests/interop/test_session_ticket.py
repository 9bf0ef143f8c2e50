"""The seeds' test_session_ticket, automated: full handshake then 0-RTT resumption,
between our own client and server, including across a server restart."""

from conftest import Server, run_client


def test_full_handshake_then_0rtt(server, tmp_path):
    session = str(tmp_path / "s.json")
    rc, first, err = run_client(server.port, "--session", session, "--bytes", "5000")
    assert rc == 0, err
    assert first["resumed"] is False and first["early_data"] == "none" and first["verified"]
    rc, second, err = run_client(server.port, "--session", session, "--bytes", "5000")
    assert rc == 0, err
    assert second["resumed"] is True
    assert second["early_data"] == "accepted"
    assert second["verified"]


def test_ticket_key_file_survives_restart(tmp_path):
    key = str(tmp_path / "ticket.key")
    session = str(tmp_path / "s.json")
    s = Server("--ticket-key", key)
    try:
        rc, first, err = run_client(s.port, "--session", session)
        assert rc == 0, err
    finally:
        s.stop()
    # Same key file, new process (the IWA case: every reload restarts the
    # server): the old ticket resumes the session AND its 0-RTT data is
    # accepted; the anti-replay register persisted beside the key decides.
    s2 = Server("--ticket-key", key)
    try:
        rc, second, err = run_client(s2.port, "--session", session)
        assert rc == 0, err
        assert second["resumed"] is True
        assert second["early_data"] == "accepted"
        assert second["verified"]
    finally:
        s2.stop()
    # A different key: the ticket is refused, a full handshake still succeeds.
    s3 = Server("--ticket-key", str(tmp_path / "other.key"))
    try:
        rc, third, err = run_client(s3.port, "--session", session)
        assert rc == 0, err
        assert third["resumed"] is False and third["verified"]
    finally:
        s3.stop()
