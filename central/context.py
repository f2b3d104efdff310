"""Central's runtime: configuration, database engine and keys, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from central.config import CentralConfig
from central.db.engine import make_engine, session_factory
from central.security import FieldCipher


@dataclass
class Central:
    """What every command, the API and the ingest worker share."""

    config: CentralConfig
    engine: Engine
    sessions: sessionmaker[Session]
    cipher: FieldCipher
    hmac_key: bytes
    audit_key: bytes

    @classmethod
    def from_config(cls, config: CentralConfig) -> Central:
        """Open the database and load the keys."""
        engine = make_engine(config.db_url)
        sec = config.security
        return cls(
            config=config,
            engine=engine,
            sessions=session_factory(engine),
            cipher=FieldCipher(sec.key_bytes("data_key")),
            hmac_key=sec.key_bytes("hmac_key"),
            audit_key=sec.key_bytes("audit_key"),
        )

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()
