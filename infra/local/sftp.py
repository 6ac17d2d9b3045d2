"""The local stand-in for AWS Transfer Family SFTP: an asyncssh server backed by S3 (moto).

It behaves like a Transfer Family server with service-managed users and a LOGICAL home directory:
each user sees "/" and nothing else, mapped onto ``s3://<bucket>/<home_prefix>``; every S3 action
is first checked against the user's role policy; and only a completely written file becomes an
object and an "SFTP Server File Upload Completed" event.

Choices worth knowing:

* Paths are normalised in the virtual tree before anything else (``..`` above "/" stays at "/",
  as in Transfer Family), so no client path can name a key outside the home prefix. Symbolic and
  hard links are not supported at all, so there is nothing to follow out of the tree.
* Directories are implicit prefixes. ``mkdir`` writes a zero-byte ``dir/`` marker object, as
  Transfer Family does, so an empty directory can be listed and entered; ``rmdir`` deletes it.
* An upload is spooled to a local temporary file while its handle is open. Only an explicit
  SSH_FXP_CLOSE from the client, after writes that all succeeded, puts it into S3 (one
  ``put_object``) and calls ``on_upload_completed``. asyncssh also calls ``SFTPServer.close()``
  for every still-open handle when a session ends abruptly; that path must not publish, so the
  server tells the two apart (see ``_FeedSftpServer.close``).
* ``setstat``/``fsetstat`` are accepted and ignored (Transfer Family's ``SetStatOption:
  ENABLE_NO_OP``), so clients that preserve times do not fail. Append and byte-range locks are
  not supported, as in S3.
* A rename copies then deletes (files only); it publishes no upload event, like Transfer Family.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import pathlib
import posixpath
import secrets
import stat
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

import asyncssh
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.iam import PolicyEvaluator

__all__ = ["SftpGateway", "SftpUser", "UploadCompleted"]

logger = logging.getLogger(__name__)

_DIR_MODE = stat.S_IFDIR | 0o755
_FILE_MODE = stat.S_IFREG | 0o644
_COPY_CHUNK = 1024 * 1024
# asyncssh's SFTPServerHandler method that handles SSH_FXP_CLOSE. Only a close() called from it
# is the client closing a file; any other caller (asyncssh's session _cleanup) is an abort.
_CLIENT_CLOSE_CALLER = "_process_close"


@dataclass(frozen=True)
class SftpUser:
    """A service-managed Transfer Family user: one per feed."""

    username: str
    authorized_keys: tuple[str, ...]  # OpenSSH public key lines ("ssh-ed25519 AAAA... comment")
    bucket: str  # landing bucket name
    home_prefix: str  # e.g. "walsall-council/walsall-adults/" ; the user sees it as "/"
    policy: PolicyEvaluator  # the user's IAM role policy, checked for every S3 action
    server_id: str = "s-local"


@dataclass(frozen=True)
class UploadCompleted:
    """What Transfer Family publishes to EventBridge as detail-type 'SFTP Server File Upload Completed'.

    ``detail`` has the real event's keys: server-id, username, session-id, client-ip, protocol,
    file-path ("/bucket/key"), bytes, etag, status-code ("COMPLETED"), start-timestamp and
    end-timestamp (ISO 8601, UTC).
    """

    detail: dict
    SOURCE: ClassVar[str] = "aws.transfer"
    DETAIL_TYPE: ClassVar[str] = "SFTP Server File Upload Completed"

    def as_event(self, *, account: str = "123456789012", region: str = "eu-west-2") -> dict:
        """The whole EventBridge envelope, for code that consumes events as a rule target would."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": self.DETAIL_TYPE,
            "source": self.SOURCE,
            "account": account,
            "time": self.detail["end-timestamp"][:19] + "Z",
            "region": region,
            "resources": [f"arn:aws:transfer:{region}:{account}:server/{self.detail['server-id']}"],
            "detail": dict(self.detail),
        }


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _normalise_home(prefix: str) -> str:
    """'/a/b' -> 'a/b/'; '' or '/' -> '' (the bucket root). Rejects '..' so the mapping is exact."""
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError(f"home prefix must not contain '.' or '..' segments: {prefix!r}")
    return "".join(f"{part}/" for part in parts)


def virtual_path(path: bytes) -> str:
    """Normalise a client path in the user's virtual tree: always absolute, no '.', no '..'.

    Relative paths are relative to the home "/" (the SFTP protocol has no server-side working
    directory; clients resolve `cd` themselves via realpath). '..' above the root stays at the root.
    """
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        raise asyncssh.SFTPNoSuchFile("Path is not valid UTF-8") from None
    if "\x00" in text:
        raise asyncssh.SFTPNoSuchFile("Invalid path")
    norm = posixpath.normpath("/" + text)
    return "/" + norm.lstrip("/")  # normpath keeps a leading '//', which POSIX allows; we do not


def _dir_attrs(mtime: int | None = None) -> asyncssh.SFTPAttrs:
    return asyncssh.SFTPAttrs(
        type=asyncssh.FILEXFER_TYPE_DIRECTORY, permissions=_DIR_MODE, size=0, uid=0, gid=0,
        nlink=1, mtime=mtime, atime=mtime,
    )


def _file_attrs(size: int, mtime: int | None) -> asyncssh.SFTPAttrs:
    return asyncssh.SFTPAttrs(
        type=asyncssh.FILEXFER_TYPE_REGULAR, permissions=_FILE_MODE, size=size, uid=0, gid=0,
        nlink=1, mtime=mtime, atime=mtime,
    )


def _epoch(value: Any) -> int | None:
    return int(value.timestamp()) if isinstance(value, dt.datetime) else None


@dataclass(eq=False)  # identity semantics: handles live in a set
class _Handle:
    """An open file: a local temporary file standing in for the object while the handle lives."""

    key: str
    vpath: str
    spool: IO[bytes]
    writable: bool
    opened: dt.datetime
    mtime: int | None = None
    failed: bool = False
    closed: bool = False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """asyncssh's ranges@asyncssh.com extension seeks the handle object directly."""
        return self.spool.seek(offset, whence)

    def size(self) -> int:
        self.spool.flush()  # a buffered spool's fstat size lags what was written
        return os.fstat(self.spool.fileno()).st_size

    def discard(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.spool.close()


class _FeedSftpServer(asyncssh.SFTPServer):
    """One SFTP session of one feed user, mapping the virtual tree onto S3 under the home prefix.

    Every method that touches storage is overridden: asyncssh's defaults would use the local
    filesystem. S3 calls run in worker threads so one slow request does not stall other sessions.
    """

    def __init__(self, chan: asyncssh.SSHServerChannel, gateway: SftpGateway):
        super().__init__(chan)
        self._gw = gateway
        username = chan.get_extra_info("username")
        self._user = gateway._user(username)
        self._home = _normalise_home(self._user.home_prefix)
        peer = chan.get_extra_info("peername") or ("", 0)
        self._client_ip = str(peer[0])
        self._session_id = secrets.token_hex(8)
        self._handles: set[_Handle] = set()
        self._context = {
            "aws:SecureTransport": "true",
            "aws:username": self._user.username,
            "transfer:UserName": self._user.username,
            "transfer:HomeBucket": self._user.bucket,
            "transfer:HomeFolder": self._home.rstrip("/"),
            "transfer:HomeDirectory": f"/{self._user.bucket}/{self._home}".rstrip("/"),
        }
        logger.info("SFTP session %s started for %s from %s", self._session_id, username, self._client_ip)

    # -- mapping and authorisation -------------------------------------------------------------

    def _key(self, vpath: str) -> str:
        key = self._home + vpath.lstrip("/")
        if ".." in key.split("/"):  # impossible for a normalised vpath; checked, not assumed
            raise asyncssh.SFTPPermissionDenied("Permission denied")
        return key

    def _authorise(self, action: str, key: str) -> None:
        resource = f"arn:aws:s3:::{self._user.bucket}/{key}"
        if not self._user.policy.allows(action, resource, dict(self._context)):
            logger.info("denied %s on %s for %s", action, resource, self._user.username)
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    def _authorise_list(self, prefix: str) -> None:
        resource = f"arn:aws:s3:::{self._user.bucket}"
        context = {**self._context, "s3:prefix": prefix}
        if not self._user.policy.allows("s3:ListBucket", resource, context):
            logger.info("denied s3:ListBucket on prefix %s for %s", prefix, self._user.username)
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    async def _s3(self, operation: str, **kwargs: Any) -> Any:
        """Call the S3 client off the event loop, turning S3 errors into SFTP status codes."""
        call = getattr(self._gw._s3, operation)
        try:
            return await asyncio.to_thread(call, Bucket=self._user.bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise asyncssh.SFTPNoSuchFile("No such file") from exc
            if code in ("AccessDenied", "403"):
                raise asyncssh.SFTPPermissionDenied("Permission denied") from exc
            logger.warning("S3 %s failed for %s: %s", operation, self._user.username, code)
            raise asyncssh.SFTPFailure(f"Storage error: {code}") from exc
        except BotoCoreError as exc:
            logger.warning("S3 %s failed for %s: %s", operation, self._user.username, exc)
            raise asyncssh.SFTPFailure("Storage unavailable") from exc

    async def _list(self, prefix: str, **kwargs: Any) -> dict[str, Any]:
        self._authorise_list(prefix)
        return await self._s3("list_objects_v2", Prefix=prefix, **kwargs)

    async def _is_dir(self, vpath: str) -> tuple[bool, int | None]:
        if vpath == "/":
            return True, None
        found = await self._list(self._key(vpath) + "/", MaxKeys=1)
        contents = found.get("Contents") or []
        if contents or found.get("CommonPrefixes"):
            return True, _epoch(contents[0].get("LastModified")) if contents else None
        return False, None

    async def _file_entry(self, key: str) -> dict[str, Any] | None:
        # The exact key is the smallest string with itself as prefix, so it is listed first.
        found = await self._list(key, MaxKeys=1)
        contents = found.get("Contents") or []
        return contents[0] if contents and contents[0]["Key"] == key else None

    async def _attrs(self, vpath: str) -> asyncssh.SFTPAttrs:
        is_dir, mtime = await self._is_dir(vpath)
        if is_dir:
            return _dir_attrs(mtime)
        entry = await self._file_entry(self._key(vpath))
        if entry is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        return _file_attrs(int(entry["Size"]), _epoch(entry.get("LastModified")))

    # -- names and attributes ------------------------------------------------------------------

    def format_user(self, uid: int | None) -> str:
        return self._user.username

    def format_group(self, gid: int | None) -> str:
        return self._user.username

    def realpath(self, path: bytes) -> bytes:
        return virtual_path(path).encode("utf-8")

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return await self._attrs(virtual_path(path))

    async def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return await self._attrs(virtual_path(path))  # there are no links

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        handle = self._handle(file_obj)
        return _file_attrs(handle.size(), handle.mtime)

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        return None  # ENABLE_NO_OP, as Transfer Family can be configured: S3 keeps no modes/times

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        return None

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        return None

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        vpath = virtual_path(path)
        is_dir, mtime = await self._is_dir(vpath)
        if not is_dir:
            if await self._file_entry(self._key(vpath)) is not None:
                raise asyncssh.SFTPNotADirectory("Not a directory")
            raise asyncssh.SFTPNoSuchFile("No such directory")
        for dot in (b".", b".."):
            yield asyncssh.SFTPName(dot, attrs=_dir_attrs(mtime))
        prefix = self._key(vpath) + "/" if vpath != "/" else self._home
        token: str | None = None
        while True:
            page = await self._list(prefix, Delimiter="/", **({"ContinuationToken": token} if token else {}))
            for common in page.get("CommonPrefixes") or []:
                name = common["Prefix"][len(prefix):].rstrip("/")
                if name:
                    yield asyncssh.SFTPName(name.encode("utf-8"), attrs=_dir_attrs())
            for entry in page.get("Contents") or []:
                name = entry["Key"][len(prefix):]
                if name:  # skip the directory's own marker object
                    attrs = _file_attrs(int(entry["Size"]), _epoch(entry.get("LastModified")))
                    yield asyncssh.SFTPName(name.encode("utf-8"), attrs=attrs)
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    # -- files ---------------------------------------------------------------------------------

    def _handle(self, file_obj: object) -> _Handle:
        if not isinstance(file_obj, _Handle) or file_obj.closed:
            raise asyncssh.SFTPInvalidHandle("Invalid file handle")
        return file_obj

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> _Handle:
        vpath = virtual_path(path)
        key = self._key(vpath)
        writing = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND))
        self._authorise("s3:PutObject" if writing else "s3:GetObject", key)
        if pflags & asyncssh.FXF_APPEND:
            raise asyncssh.SFTPOpUnsupported("Append is not supported")
        if vpath == "/" or (await self._is_dir(vpath))[0]:
            raise asyncssh.SFTPFileIsADirectory("Is a directory")
        if writing:
            return await self._open_for_write(vpath, key, pflags)
        return await self._open_for_read(vpath, key)

    async def _open_for_write(self, vpath: str, key: str, pflags: int) -> _Handle:
        if pflags & asyncssh.FXF_EXCL and await self._file_entry(key) is not None:
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        # Without FXF_TRUNC a POSIX server would keep the old bytes; S3 cannot patch an object, so
        # (like Transfer Family) every write session starts from an empty file.
        handle = _Handle(
            key=key, vpath=vpath, spool=tempfile.TemporaryFile(prefix="mast-sftp-", buffering=0),
            writable=True, opened=dt.datetime.now(dt.UTC),
        )
        self._handles.add(handle)
        logger.info("upload of %s opened by %s (session %s)", vpath, self._user.username, self._session_id)
        return handle

    async def _open_for_read(self, vpath: str, key: str) -> _Handle:
        response = await self._s3("get_object", Key=key)
        spool = tempfile.TemporaryFile(prefix="mast-sftp-")
        try:
            await asyncio.to_thread(self._copy_body, response["Body"], spool)
        except BaseException:
            spool.close()
            raise
        handle = _Handle(
            key=key, vpath=vpath, spool=spool, writable=False,
            opened=dt.datetime.now(dt.UTC), mtime=_epoch(response.get("LastModified")),
        )
        self._handles.add(handle)
        return handle

    @staticmethod
    def _copy_body(body: Any, spool: IO[bytes]) -> None:
        with contextlib.closing(body):
            while chunk := body.read(_COPY_CHUNK):
                spool.write(chunk)

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs) -> object:
        raise asyncssh.SFTPOpUnsupported("SFTP v5+ open is not supported")  # we negotiate v3

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        handle = self._handle(file_obj)
        handle.spool.seek(offset)
        return handle.spool.read(size)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        handle = self._handle(file_obj)
        if not handle.writable:
            raise asyncssh.SFTPPermissionDenied("File not open for writing")
        try:
            handle.spool.seek(offset)
            handle.spool.write(data)
        except OSError:
            handle.failed = True  # a failed write spoils the upload: it must never be published
            logger.exception("spooling upload of %s failed", handle.vpath)
            raise
        return len(data)

    def fsync(self, file_obj: object) -> None:
        self._handle(file_obj).spool.flush()  # nothing reaches S3 before close

    def close(self, file_obj: object) -> Awaitable[None]:
        """Close a handle; commit an upload only when the client itself closed it.

        asyncssh calls close() from two places: its SSH_FXP_CLOSE handler, and the session
        cleanup that runs when the channel or connection goes away with handles still open. The
        second is an interrupted upload, which Transfer Family never turns into an object. There
        is no public way to tell them apart, so we look at the caller: anything other than the
        FXP_CLOSE handler aborts. Should asyncssh rename that handler, uploads fail to commit
        (loudly, in the tests) rather than partial files being published.
        """
        client_closed = sys._getframe(1).f_code.co_name == _CLIENT_CLOSE_CALLER
        return self._close(file_obj, client_closed)

    async def _close(self, file_obj: object, client_closed: bool) -> None:
        if not isinstance(file_obj, _Handle) or file_obj.closed:
            return
        handle = file_obj
        self._handles.discard(handle)
        try:
            if not handle.writable:
                return
            if not client_closed:
                logger.warning(
                    "upload of %s by %s interrupted: nothing stored, no event",
                    handle.vpath, self._user.username,
                )
                return
            if handle.failed:
                raise asyncssh.SFTPFailure("Upload failed: a write did not succeed")
            await self._commit(handle)
        finally:
            handle.discard()

    async def _commit(self, handle: _Handle) -> None:
        size = handle.size()
        handle.spool.seek(0)
        response = await self._s3(
            "put_object", Key=handle.key, Body=handle.spool, ContentLength=size,
            # the metadata Transfer Family puts on every object it writes
            Metadata={
                "user-agent": "AWSTransfer",
                "user-agent-id": f"{self._user.username}@{self._user.server_id}",
            },
        )
        finished = dt.datetime.now(dt.UTC)
        logger.info("upload of %s by %s stored: s3://%s/%s (%d bytes)",
                    handle.vpath, self._user.username, self._user.bucket, handle.key, size)
        event = UploadCompleted(detail={
            "server-id": self._user.server_id,
            "username": self._user.username,
            "session-id": self._session_id,
            "client-ip": self._client_ip,
            "protocol": "SFTP",
            "file-path": f"/{self._user.bucket}/{handle.key}",
            "bytes": size,
            "etag": str(response.get("ETag", "")).strip('"'),
            "status-code": "COMPLETED",
            "start-timestamp": _timestamp(handle.opened),
            "end-timestamp": _timestamp(finished),
        })
        try:
            self._gw._on_upload_completed(event)
        except Exception:  # the callback is someone else's code: the session must survive it
            logger.exception("on_upload_completed failed for %s", event.detail["file-path"])

    # -- namespace changes ---------------------------------------------------------------------

    async def remove(self, path: bytes) -> None:
        vpath = virtual_path(path)
        key = self._key(vpath)
        self._authorise("s3:DeleteObject", key)
        if vpath == "/" or (await self._is_dir(vpath))[0]:
            raise asyncssh.SFTPFileIsADirectory("Is a directory")
        if await self._file_entry(key) is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        await self._s3("delete_object", Key=key)
        logger.info("%s removed %s", self._user.username, vpath)

    async def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        vpath = virtual_path(path)
        if vpath == "/":
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        key = self._key(vpath)
        self._authorise("s3:PutObject", key + "/")
        if (await self._is_dir(vpath))[0] or await self._file_entry(key) is not None:
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        await self._s3("put_object", Key=key + "/", Body=b"")

    async def rmdir(self, path: bytes) -> None:
        vpath = virtual_path(path)
        if vpath == "/":
            raise asyncssh.SFTPPermissionDenied("Permission denied")
        marker = self._key(vpath) + "/"
        self._authorise("s3:DeleteObject", marker)
        found = await self._list(marker, MaxKeys=2)
        keys = [entry["Key"] for entry in found.get("Contents") or []]
        if not keys:
            if await self._file_entry(self._key(vpath)) is not None:
                raise asyncssh.SFTPNotADirectory("Not a directory")
            raise asyncssh.SFTPNoSuchFile("No such directory")
        if keys != [marker]:
            raise asyncssh.SFTPDirNotEmpty("Directory not empty")
        await self._s3("delete_object", Key=marker)

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._rename(oldpath, newpath, overwrite=False)

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._rename(oldpath, newpath, overwrite=True)

    async def _rename(self, oldpath: bytes, newpath: bytes, *, overwrite: bool) -> None:
        old_v, new_v = virtual_path(oldpath), virtual_path(newpath)
        old_key, new_key = self._key(old_v), self._key(new_v)
        self._authorise("s3:GetObject", old_key)
        self._authorise("s3:PutObject", new_key)
        self._authorise("s3:DeleteObject", old_key)
        if old_v == "/" or (await self._is_dir(old_v))[0]:
            raise asyncssh.SFTPOpUnsupported("Renaming a directory is not supported")
        if await self._file_entry(old_key) is None:
            raise asyncssh.SFTPNoSuchFile("No such file")
        if new_v == "/" or (await self._is_dir(new_v))[0]:
            raise asyncssh.SFTPFileIsADirectory("Is a directory")
        if old_key == new_key:
            return
        if not overwrite and await self._file_entry(new_key) is not None:
            raise asyncssh.SFTPFileAlreadyExists("File already exists")
        await self._s3("copy_object", Key=new_key, CopySource={"Bucket": self._user.bucket, "Key": old_key})
        await self._s3("delete_object", Key=old_key)
        logger.info("%s renamed %s to %s", self._user.username, old_v, new_v)

    def readlink(self, path: bytes) -> bytes:
        raise asyncssh.SFTPOpUnsupported("Links are not supported")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("Links are not supported")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("Links are not supported")

    def statvfs(self, path: bytes) -> asyncssh.SFTPVFSAttrs:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")

    def fstatvfs(self, file_obj: object) -> asyncssh.SFTPVFSAttrs:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")

    def exit(self) -> None:
        for handle in list(self._handles):  # asyncssh closes handles first; this is a backstop
            handle.discard()
        self._handles.clear()
        logger.info("SFTP session %s of %s ended", self._session_id, self._user.username)


class _AuthServer(asyncssh.SSHServer):
    """Public-key authentication only, against each user's authorized keys."""

    def __init__(self, gateway: SftpGateway):
        self._gw = gateway
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._gw._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._gw._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always require authentication -- returning False would let anyone in

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self._gw._keys.get(username)
        if allowed is None:
            logger.info("SFTP login refused: unknown user %r", username)
            return False
        if key.public_data not in allowed:
            logger.info("SFTP login refused: key not authorized for %s", username)
            return False
        return True


def _host_key(path: pathlib.Path) -> asyncssh.SSHKey:
    """Reuse the host key so clients' known_hosts stay valid across runs; create it on first use."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key())
    logger.info("created SFTP host key %s", path)
    return key


@dataclass
class _Running:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    acceptor: Any = None
    error: BaseException | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class SftpGateway:
    """An SFTP server on loopback standing in for a Transfer Family server.

    It runs in its own thread with its own event loop, so synchronous callers (the local stack,
    tests) can start it, drive it with real clients, and stop it. ``on_upload_completed`` is called
    on that thread, after the object is stored and before the client's close is acknowledged, so
    when a client's upload returns its event has been handled.
    """

    def __init__(
        self,
        *,
        users: list[SftpUser],
        s3_client: Any,
        on_upload_completed: Callable[[UploadCompleted], None],
        host: str = "127.0.0.1",
        port: int = 2222,
        host_key_path: pathlib.Path,
    ):
        self._users = {}
        self._keys: dict[str, frozenset[bytes]] = {}
        for user in users:
            if user.username in self._users:
                raise ValueError(f"duplicate SFTP user {user.username!r}")
            _normalise_home(user.home_prefix)  # fail now, not at first login
            self._users[user.username] = user
            self._keys[user.username] = frozenset(
                self._parse_key(user, line) for line in user.authorized_keys
            )
        self._s3 = s3_client
        self._on_upload_completed = on_upload_completed
        self._host = host
        self._port = port
        self._host_key_path = pathlib.Path(host_key_path)
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._running: _Running | None = None

    @staticmethod
    def _parse_key(user: SftpUser, line: str) -> bytes:
        try:
            return asyncssh.import_public_key(line.strip()).public_data
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise ValueError(f"SFTP user {user.username!r} has an unreadable public key: {exc}") from exc

    def _user(self, username: str) -> SftpUser:
        return self._users[username]

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The listening port (the one the OS chose, if constructed with port=0 and started)."""
        return self._port

    def start(self) -> None:
        """Listen; returns once the server accepts connections. OSError names the port if taken."""
        if self._running is not None:
            raise RuntimeError("SFTP gateway already started")
        host_key = _host_key(self._host_key_path)
        loop = asyncio.new_event_loop()
        running = _Running(loop=loop, thread=threading.Thread(
            target=self._serve, args=(loop, host_key), name=f"sftp-gateway-{self._port}", daemon=True,
        ))
        self._running = running
        running.thread.start()
        running.ready.wait()
        if running.error is not None:
            running.thread.join()
            self._running = None
            raise running.error
        logger.info("SFTP gateway listening on %s:%d", self._host, self._port)

    def _serve(self, loop: asyncio.AbstractEventLoop, host_key: asyncssh.SSHKey) -> None:
        running = self._running
        assert running is not None
        asyncio.set_event_loop(loop)
        try:
            running.acceptor = loop.run_until_complete(self._listen(host_key))
            self._port = running.acceptor.get_port()
        except OSError as exc:
            running.error = OSError(
                exc.errno,
                f"SFTP gateway cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
                " (is the port already in use?)",
            )
        except BaseException as exc:  # surfaced to start()'s caller
            running.error = exc
        if running.error is not None:
            running.ready.set()
            loop.close()
            return
        running.ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(self._shutdown(running.acceptor))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    async def _listen(self, host_key: asyncssh.SSHKey) -> Any:
        return await asyncssh.listen(
            self._host,
            self._port,
            server_host_keys=[host_key],
            server_factory=lambda: _AuthServer(self),
            sftp_factory=lambda chan: _FeedSftpServer(chan, self),
            sftp_version=3,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
            login_timeout=30,
        )

    async def _shutdown(self, acceptor: Any) -> None:
        acceptor.close()
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        for conn in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout=5)
        # Let session cleanups (which abort any open uploads) run before the loop goes away.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=5)
            for task in pending:
                task.cancel()
        await acceptor.wait_closed()

    def stop(self) -> None:
        """Close all sessions (open uploads are discarded, as if interrupted) and stop listening."""
        running, self._running = self._running, None
        if running is None:
            return
        running.loop.call_soon_threadsafe(running.loop.stop)
        running.thread.join(timeout=30)
        if running.thread.is_alive():
            logger.error("SFTP gateway thread did not stop within 30 s")
        else:
            logger.info("SFTP gateway on %s:%d stopped", self._host, self._port)
