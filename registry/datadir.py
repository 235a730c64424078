"""The data directory: everything one registry needs, in one place.

::

    DIR/registry.db      the SQLite database (unless a database URL is given)
    DIR/log.key          the log's Ed25519 signing key (C2SP signer-key text, mode 0600)
    DIR/log.vkey         the log's verifier key text, for auditors
    DIR/checkpoint       the last published checkpoint, kept outside the database so that a
                         database restored from an old backup is refused (DESIGN.md §3)
    DIR/keys/NAME.key    signing keys created here: the operator's, and the demo's parties'
                         (in production each party keeps its own key; the registry needs none)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.keys import SignerKey

DEFAULT_ORIGIN = "localhost/carbon-registry"


class DataDirError(Exception):
    """The data directory is missing something or holds something unreadable."""

    code = "bad-data-dir"


@dataclass(frozen=True)
class DataDir:
    """Paths inside a registry's data directory."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "registry.db"

    @property
    def log_key(self) -> Path:
        return self.root / "log.key"

    @property
    def log_vkey(self) -> Path:
        return self.root / "log.vkey"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def witnesses(self) -> Path:
        """The witness policy (C2SP tlog-policy format): whom to push checkpoints to, and their quorum."""
        return self.root / "witnesses.policy"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def database_url(self, override: str | None = None) -> str:
        """Return ``override`` if given, else the embedded SQLite database's URL."""
        return override or f"sqlite:///{self.database}"

    def exists(self) -> bool:
        return self.log_key.exists()

    def initialise(self, origin: str = DEFAULT_ORIGIN) -> SignerKey:
        """Create the directory and the log key; return the key. Refuses to replace a key."""
        if self.log_key.exists():
            raise DataDirError(f"{self.log_key} already exists: refusing to replace the log key")
        self.root.mkdir(parents=True, exist_ok=True)
        key = SignerKey.generate(origin)
        write_secret(self.log_key, key.text() + "\n")
        self.log_vkey.write_text(key.verifier.text() + "\n")
        return key

    def load_log_key(self) -> SignerKey:
        """Return the log's signing key; raise :class:`DataDirError` if it is missing."""
        if not self.log_key.exists():
            raise DataDirError(f"{self.root} is not a registry data directory (no log.key); run 'registry demo'")
        return SignerKey.parse(self.log_key.read_text())

    def save_key(self, key: SignerKey) -> Path:
        """Write a signing key to ``keys/NAME.key`` (mode 0600) and return its path."""
        self.keys.mkdir(parents=True, exist_ok=True)
        path = self.keys / f"{key.name}.key"
        write_secret(path, key.text() + "\n")
        return path


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only and write ``text`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
