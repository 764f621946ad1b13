"""The conformance checks: one module ``test_<group>.py`` per protocol area.

How to write a check
====================

A check is a pytest test function declared with ``@check(name, *rule_ids)``. It takes the
``chat`` fixture, drives clients over TCP, and fails by raising ``CheckFailure`` (every
``expect...`` method does that for you, with what was expected and what arrived)::

    from chat_conform.registry import check
    from chat_conform.session import Chat


    @check("broadcast.sender-exclusion", "MSG-4")
    def test_sender_exclusion(chat: Chat) -> None:
        \"\"\"The sender of a MSG does not receive it back.\"\"\"
        alice, bob = chat.registered("alice", "bob")
        alice.send_line("MSG hello")
        bob.expect(f"MSG {alice.name} hello")
        alice.barrier()  # fails if alice got anything (e.g. her own echo) before the PONG

Rules of the game
-----------------
* The name ``<group>.<what-it-checks>`` is stable (reports and CI history key on it); the
  rule IDs must exist in ``chat_conform.rules``; the level (MUST/SHOULD/MAY) comes from them.
  The docstring's first line is the one-line summary ``--list`` shows.
* Each check gets a fresh server. With --connect the server is shared with other checks
  running at the same time: use ``alice.name`` (or ``chat.name("alice")``), never the literal
  "alice", in expected lines; names are then made unique, and lines about other checks'
  clients are ignored. Guard exact-count assertions with ``if not chat.shared``.
* Never sleep. Prove that something did NOT happen with ``client.barrier()`` (a PING/PONG
  round trip that fails on any other line before the PONG). Every wait is bounded by
  --timeout already.
* Server options: ``@check(..., server_options={"max_clients": 2})`` starts this check's server
  with ``{max_clients}`` set (skipped when the command lacks the placeholder or with
  --connect). A check that stops or breaks the server declares ``needs_own_server=True``.
* Randomness (payloads) comes from ``chat.rng`` so that --seed reproduces a run.

The API
-------
``chat`` (:class:`chat_conform.session.Chat`):
  ``connect(label)`` a client that has read the greeting; ``connect_raw(label)`` one that
  has read nothing; ``registered(*labels, seen_by=[...])`` connected and registered
  clients, the earlier ones (and ``seen_by``) having read the later ones' JOIN lines (a quiet
  start); ``name(base)`` the name to use for a base;
  ``expect_who(asker, present=, absent=, argument=)``; ``shared``; ``rng``; ``timeout``;
  ``own_server`` (pid, ``exit_status()``, ``wait_exit(t)``, ``stderr_tail()``);
  ``stop_server_with(signal.SIGTERM)``.
a client (:class:`chat_conform.wire.Client`):
  ``send_line(text)`` (adds LF), ``send_raw(bytes)``; ``read_line()``; ``expect(line,
  optional_text=False)``; ``expect_match(regex)`` (whole line); ``expect_error(code)``;
  ``expect_hello()``; ``barrier()``; ``collect_until_pong()``; ``expect_closed()``;
  ``register(name=None)``; ``who(argument=None)``; ``close()`` (FIN); ``reset()`` (RST);
  ``fail(message)``; ``label`` and ``name``.
"""
