"""Finding catalogue vendors named in text: exact names (OUI registrants, UPnP manufacturer) and free text.

Text and aliases are normalised alike (case-folded, every run of non-alphanumerics becomes one space), so "TP-LINK",
"tp-link" and "TP Link" meet. Free text is scanned by looking every run of up to MAX_WORDS consecutive words up in a
dict: word boundaries come for free and the cost is linear in the text, whatever the number of aliases.

Two rules keep ordinary text from naming a vendor (measured on every word of Debian's English word lists and every
Debian package name, tests/fingerprints/test_negative_corpus.py):
- an alias that is an ordinary word or name (catalogue.toml [matching] ordinary_words: "hexing", "holley", "elbrus")
  names its vendor only as a whole value or in a manufacturer field, never from inside free text;
- a vendor glued to a product ("HuaweiHomeGateway", "DAHUA2MP") is matched at the start of a longer word only where
  the text itself shows the seam — a lower-to-upper case change or a letter-digit change — so "Redmine" is not
  "Redmi", "kstars" not "Kstar", "chintzy" not "Chint".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from fingerprints.catalogue import Catalogue

MAX_WORDS = 8
PREFIX_MIN = 5
PREFIX_MAX = 24
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_ASCII_WORD = re.compile(r"[0-9A-Za-z]+")
# Legal-form words that OUI registrations and certificates add to a name; dropped when matching a whole name.
_LEGAL = frozenset(
    "co ltd inc llc gmbh ag sa spa bv nv corp corporation company limited technology technologies tech "
    "electronics electronic systems system group holdings international intl industries industrial the "
    "plc kg sas srl oy ab as pte pty".split()
)
#: Vendors headquartered or owned here get no derived bare name in `AliasIndex.lead`: the countries of the packaged
#: policy, and the special administrative regions. A derived name is a guess; a flag must come from a curated alias.
LISTED_FOR_LEAD = frozenset({"CN", "RU", "IR", "KP", "HK", "MO"})


def normalise(text: str) -> str:
    return _NON_ALNUM.sub(" ", text.casefold()).strip()


def name_key(name: str) -> str:
    """An organisation name without case, punctuation and legal-form words: how one organisation's entries in
    different registries meet ("Foo Technologies Co.,Ltd." and "FOO TECHNOLOGY CO., LTD" → "foo")."""
    return " ".join(w for w in normalise(name).split() if w not in _LEGAL)


@dataclass
class AliasIndex:
    """normalised alias -> vendor id, split into names usable anywhere and names usable only as a whole value."""

    free: dict[str, str]
    whole: dict[str, str]
    # Space-free aliases of at least PREFIX_MIN characters, matched at the start of a longer word
    # ("HuaweiHomeGateway", "TPLINK-HTTPD"): vendors often glue their name to a product name.
    prefix: dict[str, str] = field(default_factory=dict)
    # Product names (catalogue [[vendor.products]]), as matched, with the role they speak for:
    # normalised name (and its glued form) -> "device" | "software" | "os".
    products: dict[str, str] = field(default_factory=dict)
    # Speed: first word of a free alias -> its most words; first PREFIX_MIN letters of the prefix aliases.
    starts: dict[str, int] = field(default_factory=dict)
    heads: frozenset[str] = frozenset()
    # Names that may name a maker only at the head of a self-description or banner ("SHARP MX-6200N Ver 01.02",
    # "LG 32LN5700"): every whole name, plus the bare name left of a vendor's short name once its legal form is
    # dropped ("Sharp Corporation" → "sharp"), where no other vendor's name gives the same word and the vendor is
    # not from a listed country (a flag is earned through a curated alias only). Used by `leading()` alone.
    lead: dict[str, str] = field(default_factory=dict)
    _resolved: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in self.free:
            first, _, _ = key.partition(" ")
            self.starts[first] = max(self.starts.get(first, 0), key.count(" ") + 1)
        self.heads = frozenset(k[:PREFIX_MIN] for k in self.prefix)
        if not self.lead:
            self.lead = self.whole

    def find_all(self, text: str) -> list[tuple[str, str]]:
        """(vendor id, matched alias) for every alias occurring as whole words in `text`, longest first per spot."""
        words = normalise(text).split()
        originals: list[str] | None = None  # the words as written, for the seam of a prefix match
        found: list[tuple[str, str]] = []
        i = 0
        while i < len(words):
            longest = self.starts.get(words[i], 0)
            for n in range(min(longest, MAX_WORDS, len(words) - i), 0, -1):
                key = " ".join(words[i : i + n])
                vid = self.free.get(key)
                if vid is not None:
                    found.append((vid, key))
                    i += n - 1
                    break
            else:
                glued = words[i] + words[i + 1] if i + 1 < len(words) else ""
                if len(glued) >= 6 and (vid := self.free.get(glued)) is not None and self.whole.get(words[i]) == vid:
                    # "Solis Cloud" written for the alias "SolisCloud" — only where the first word is itself that
                    # vendor's name, so "in router" is not InRouter nor "cloud engine" CloudEngine
                    found.append((vid, glued))
                    i += 2
                    continue
                word = words[i]
                if word[:PREFIX_MIN] not in self.heads:
                    i += 1
                    continue
                if originals is None:
                    originals = _ASCII_WORD.findall(text)
                    if len(originals) != len(words):
                        originals = []  # non-ASCII letters: no reliable seam, so no prefix matches
                written = originals[i] if originals else ""
                for n in range(min(len(word) - 1, PREFIX_MAX), PREFIX_MIN - 1, -1):
                    vid = self.prefix.get(word[:n])
                    if vid is not None:
                        if written and _seam(written, n):
                            found.append((vid, word[:n]))
                        break
            i += 1
        return found

    def leading(self, text: str, reply_code: bool = False) -> tuple[str, str] | None:
        """A vendor whose name is an ordinary word, named where a device describes itself: as the text's first
        words, followed by a model, a version or a device noun ("Juniper SRX240H", "Cambium PTP 50650", "Barracuda
        Firewall", "220 AXIS 216FD Network Fixed Dome Camera"). A name alone, or one followed by other words, stays
        ordinary ("Juniper", "Apple pie"). `reply_code`: the text is a banner that may begin with an FTP/SMTP reply
        code ("220 ", "220-"), skipped first."""
        if reply_code:
            text = _REPLY_CODE.sub("", text, count=1)
        tokens = text.split(None, 4)
        for n in range(min(3, len(tokens) - 1), 0, -1):
            key = normalise(" ".join(tokens[:n]))
            vid = self.lead.get(key)
            if vid is not None and len(key) >= 2 and key not in self.free and _names_a_product(tokens[n]):
                return vid, key
        return None

    def find(self, text: str) -> tuple[str, str] | None:
        """The first vendor named in free text, or None."""
        hits = self.find_all(text)
        return hits[0] if hits else None

    def resolve_name(self, name: str) -> str | None:
        """The vendor a whole organisation name denotes (e.g. an OUI registrant), or None."""
        if name in self._resolved:
            return self._resolved[name]
        vid = self._resolve_name(name)
        if len(self._resolved) < 100_000:  # registrant names repeat endlessly; bound the memo anyway
            self._resolved[name] = vid
        return vid

    def _resolve_name(self, name: str) -> str | None:
        norm = normalise(name)
        if not norm:
            return None
        for key in (norm, name_key(name)):
            vid = self.whole.get(key) or self.free.get(key)
            if vid:
                return vid
        hit = self.find(name)
        return hit[0] if hit else None


#: Words that, right after a maker's name at the start of a device description, say what the device is.
#: Upper-case words that say which protocol a banner speaks, not which model the device is ("APC FTP server").
_PROTOCOL_WORDS = frozenset("ftp ftpd smtp esmtp ssh telnet http https www snmp sip rtsp upnp ok tcp ip".split())
_REPLY_CODE = re.compile(r"^\s*[1-5]\d\d[ -]")

_DEVICE_NOUNS = frozenset(
    "firewall switch router gateway ups pdu camera nvr dvr printer storage nas controller server appliance "
    "bridge modem".split())


def _names_a_product(token: str) -> bool:
    """A model or version ("SRX240H", "NC-6400h,"), a model in capitals ("PTP"), or a device noun ("Firewall")."""
    word = token.strip(",;:()")
    if word.lower() in _PROTOCOL_WORDS:
        return False
    return (any(c.isdigit() for c in word) or (len(word) >= 2 and word.isalpha() and word.isupper())
            or word.lower() in _DEVICE_NOUNS)


def _seam(written: str, n: int) -> bool:
    """Whether the word as written visibly ends a name after `n` characters: "HuaweiHome", "DAHUA2MP",
    "Hikvision8", "HUAWEIHome" (an upper-case run before a capitalised word), but not "Redmine" or "KSTARS"."""
    before, after = written[n - 1], written[n]
    if before.isdigit() != after.isdigit():
        return True
    if before.islower() and after.isupper():
        return True
    return before.isupper() and after.isupper() and n + 1 < len(written) and written[n + 1].islower()


def build_index(cat: Catalogue) -> AliasIndex:
    free: dict[str, str] = {}
    whole: dict[str, str] = {}
    prefix: dict[str, str] = {}
    ordinary = {normalise(w) for w in cat.ordinary_words}
    not_prefixes = ordinary | {normalise(w) for w in cat.not_prefixes}
    for alias, vid in cat.alias_names():
        key = normalise(alias)
        if not key:
            continue
        whole.setdefault(key, vid)
        if len(key) >= 3 and key not in ordinary:
            free.setdefault(key, vid)
            glued = key.replace(" ", "")
            if glued != key and len(glued) >= 4 and glued not in ordinary:
                free.setdefault(glued, vid)  # "tp link" is also written "tplink"
            if PREFIX_MIN <= len(glued) <= PREFIX_MAX and glued not in not_prefixes:
                prefix.setdefault(glued, vid)
    lead = dict(whole)
    bare: dict[str, str | None] = {}
    for vendor in cat.vendors.values():
        owner = vendor.owner_at()
        if vendor.hq.country in LISTED_FOR_LEAD or (owner is not None and owner.country in LISTED_FOR_LEAD):
            continue
        for name in (vendor.short, vendor.name):
            key = name_key(name)
            if key and key not in whole:
                bare[key] = vendor.id if bare.get(key, vendor.id) == vendor.id else None
    lead.update((key, vid) for key, vid in bare.items() if vid is not None)
    products: dict[str, str] = {}
    for name, (_vid, product) in cat.products.items():
        key = normalise(name)
        products[key] = products[key.replace(" ", "")] = product.role
    return AliasIndex(free, whole, prefix, products, lead=lead)


@functools.lru_cache(maxsize=8)
def alias_index(cat: Catalogue) -> AliasIndex:
    return build_index(cat)
