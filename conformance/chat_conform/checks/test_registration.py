"""NAME: registration, valid names, unique names under case folding, and no second NAME."""

from __future__ import annotations

from chat_conform.registry import check
from chat_conform.session import Chat
from chat_conform.wire import Client

# Latin names whose spelling a server must keep: case, `_ - .`, digits only, accents.
LATIN_NAMES = ("AlIcE", "_-.", "r2-d2.bot_", "007", "José")
# Names of other scripts (every character a letter or digit of a stable Unicode category).
NON_LATIN_NAMES = ("Алиса", "李小龙", "Σωκράτης", "علي", "דנה", "ǅemal", "ʰa", "٧٧")

LONGEST_NAME = 32  # characters, not bytes (NAME-2)
# Letters of 1, 2 and 4 bytes in UTF-8: a server that counts bytes or UTF-16 units miscounts.
LETTERS_BY_SCRIPT = {"ascii": "a", "cyrillic": "Ж", "cjk-ext-b": "\U00020000"}  # all Lu/Ll/Lo

INVALID_NAMES = (
    "al ice",  # a space
    " alice",  # a leading space (`NAME  alice`)
    "alice ",  # a trailing space
    "tab\tname",
    "al@ce",
    "al!ce",
    "a:b",
    "😀",  # an emoji (So)
    "Jose\u0301",  # a combining mark (Mn) after the e
    "zero\u200bwidth",  # a zero-width space (Cf)
    "no\u00a0break",  # a no-break space (Zs)
    "a" * (LONGEST_NAME + 1),
    "Ж" * (LONGEST_NAME + 1),
)


def register_and_announce(chat: Chat, watcher: Client, label: str) -> Client:
    """A new client registers as ``chat.name(label)``; ``watcher`` must see its JOIN as sent."""
    client = chat.connect(label)
    client.register()  # WELCOME with the name exactly as sent
    watcher.expect(f"JOIN {client.name}")
    return client


def expect_still_unregistered(client: Client, watcher: Client) -> None:
    """A refused NAME leaves ``client`` unregistered: MSG is refused, nobody heard of it."""
    client.send_line("MSG am I in?")
    client.expect_error("not-registered")
    watcher.barrier()  # no JOIN for a refused name, no relayed MSG


def alternate_case(name: str) -> str:
    """``alice`` -> ``aLiCe``: the same name to a case-insensitive comparison."""
    return "".join(char.upper() if index % 2 else char for index, char in enumerate(name))


@check("registration.welcome-exact-name", "NAME-1")
def test_welcome_exact_name(chat: Chat) -> None:
    """`NAME x` gets `WELCOME x` with x exactly as sent: case, `_-.`, digits-only, accents."""
    (watcher,) = chat.registered("watcher")
    for label in LATIN_NAMES:
        register_and_announce(chat, watcher, label)
    chat.expect_who(watcher, present={watcher.name, *map(chat.name, LATIN_NAMES)})


@check("registration.non-latin-names", "NAME-5", "NAME-1")
def test_non_latin_names(chat: Chat) -> None:
    """Cyrillic, CJK, Greek, Arabic, Hebrew names are echoed in WELCOME and relayed intact."""
    (watcher,) = chat.registered("watcher")
    for label in NON_LATIN_NAMES:
        client = register_and_announce(chat, watcher, label)
        client.send_line("MSG Привет")
        watcher.expect(f"MSG {client.name} Привет")


@check("registration.length-in-characters", "NAME-2")
def test_length_in_characters(chat: Chat) -> None:
    """32 characters is valid whatever their UTF-8 size (64 or 128 bytes); 33 is not."""
    (watcher,) = chat.registered("watcher")
    for script, letter in LETTERS_BY_SCRIPT.items():
        client = chat.connect(f"{script}-{LONGEST_NAME}")
        client.send_line(f"NAME {letter * (LONGEST_NAME + 1)}")
        client.expect_error("name-invalid")
        expect_still_unregistered(client, watcher)
        client.register(chat.name(letter * LONGEST_NAME))
        watcher.expect(f"JOIN {client.name}")
    register_and_announce(chat, watcher, "Я")  # one character is enough


@check("registration.invalid-names-refused", "NAME-2")
def test_invalid_names_refused(chat: Chat) -> None:
    """Spaces, punctuation, emoji, combining marks, invisible characters: `ERR name-invalid`."""
    (watcher,) = chat.registered("watcher")
    carol = chat.connect("carol")
    for name in INVALID_NAMES:
        carol.send_line(f"NAME {name}")
        carol.expect_error("name-invalid")
    expect_still_unregistered(carol, watcher)
    carol.register()  # and may try again with a valid name
    watcher.expect(f"JOIN {carol.name}")


@check("registration.taken-case-insensitive", "NAME-3")
def test_taken_case_insensitive(chat: Chat) -> None:
    """A registered name is taken in any case (`alice`, `ALICE`, `aLiCe`); one may try again."""
    (alice,) = chat.registered("alice")
    bob = chat.connect("bob")
    for name in (
        alice.name,
        alice.name.upper(),
        alice.name.capitalize(),
        alternate_case(alice.name),
    ):
        bob.send_line(f"NAME {name}")
        bob.expect_error("name-taken")
    expect_still_unregistered(bob, alice)
    chat.expect_who(bob, present={alice.name})
    bob.register()
    alice.expect(f"JOIN {bob.name}")


@check("registration.taken-full-case-folding", "NAME-3")
def test_taken_full_case_folding(chat: Chat) -> None:
    """Uniqueness uses full case folding: `straße` takes `STRASSE`; `Алиса` takes `АЛИСА`."""
    german, russian = chat.registered("straße", "Алиса")
    folded_equal = (
        german.name.upper(),  # STRASSE: ß folds to ss
        german.name.replace("ß", "ss").capitalize(),  # Strasse
        german.name.upper().replace("SS", "ẞ"),  # STRAẞE, with the capital sharp s
        russian.name.upper(),  # АЛИСА
        russian.name.lower(),  # алиса
    )
    carol = chat.connect("carol")
    for name in folded_equal:
        carol.send_line(f"NAME {name}")
        carol.expect_error("name-taken")
    expect_still_unregistered(carol, german)
    russian.barrier()


@check("registration.lookalikes-distinct", "NAME-3", "NAME-1")
def test_lookalikes_distinct(chat: Chat) -> None:
    """Names that only look alike are different: Latin `Alice` and Cyrillic-A `Аlice` both fit.

    Folding is the only comparison: no Unicode normalisation (full-width `ａｌｉｃｅ` is not
    `alice`) and no confusable-character mapping.
    """
    (latin,) = chat.registered("Alice")
    cyrillic = chat.connect("Cyrillic-A")
    cyrillic.register("А" + latin.name[1:])  # U+0410 CYRILLIC CAPITAL LETTER A
    latin.expect(f"JOIN {cyrillic.name}")
    full_width = chat.connect("full-width")
    full_width.register(chat.name("ａｌｉｃｅ"))
    for client in (latin, cyrillic):
        client.expect(f"JOIN {full_width.name}")
    chat.expect_who(latin, present={latin.name, cyrillic.name, full_width.name})


@check("registration.already-registered", "NAME-4")
def test_already_registered(chat: Chat) -> None:
    """A second NAME gets `ERR already-registered` whatever the argument; the name stays."""
    alice, bob = chat.registered("alice", "bob")
    carol_name = chat.name("carol")
    for line in (
        f"NAME {carol_name}",
        f"NAME {alice.name}",
        f"NAME {alice.name.upper()}",
        f"NAME {bob.name}",
        "NAME not valid!",
        "NAME",
    ):
        alice.send_line(line)
        alice.expect_error("already-registered")
    bob.barrier()  # no JOIN or LEAVE for a rename
    alice.send_line("MSG still me")
    bob.expect(f"MSG {alice.name} still me")
    chat.expect_who(bob, present={alice.name, bob.name}, absent={carol_name})
    carol = chat.connect("carol")
    carol.register()  # the refused name was never reserved
