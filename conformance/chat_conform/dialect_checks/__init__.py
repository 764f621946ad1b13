"""The dialect checks: what ``--profile relay``, ``--profile name-prompt`` or a profile file
runs instead of the linechat/1 checks.

A dialect check observes a server from outside, as its users would: messages reach the
others whole and once, the room survives a client that resets, stays silent or stops
reading. It names observations (``chat_conform.observations``: D-FANOUT, D-INTEGRITY...)
instead of SPEC rules, and gets the ``room`` fixture (:class:`chat_conform.dialect_room.Room`)
on a fresh server of its own::

    from chat_conform.dialect_room import Room
    from chat_conform.registry import dialect_check


    @dialect_check("dialect.sender-exclusion", "D-ECHO")
    def test_sender_exclusion(room: Room) -> None:
        \"\"\"The sender of a message does not receive it back.\"\"\"
        alice, bob = room.join("alice", "bob")
        payload = room.payloads.make(alice.label, alice.name)
        room.deliver(alice, payload, [bob])
        room.expect_no_echo([payload])  # after a quiet period: alice never got it

Rules of the game
-----------------
* ``@dialect_check(name, *observations, needs=(...))``: the name ``dialect.<what>`` is stable;
  ``needs`` lists the profile features (``registration``, ``names``, ``join``, ``leave``,
  ``exit``) without which the check is reported "not applicable", never "passed".
* Messages are payloads (``room.payloads.make``) with a unique marker at both ends; a
  receiver's data is a byte stream, searched for markers (``chat_conform.integrity`` says
  what intact, glued, split and corrupted mean). Never judge read boundaries.
* A profile without a send terminator has messages delimited by time only: send a message
  only once the previous one arrived (``room.deliver``, ``room.exchange(window=1)``).
* Never sleep. Positive waits are bounded by the timeout; "nothing more arrived" is
  ``room.settle()``, the profile's quiet period (``room.expect_no_echo`` uses it).
* Randomness comes from ``room.rng`` (through ``room.payloads``) so --seed reproduces a run.
"""
