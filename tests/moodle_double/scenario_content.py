"""Scenario rows for content: files (+ the filedir pool), backup_courses, quiz, event.

- files: contenthash = sha1(content); pathnamehash = sha1("/contextid/component/filearea/
  itemid/filepath/filename") (file_storage::get_pathname_hash); directory rows and empty
  files carry sha1('') and have no pool file; status 666 = missing reference source
  (public/lib/filestorage/*, facts §5.2). Pool: dataroot/filedir/aa/bb/<sha1>.
- backup_courses.laststatus (CHAR(1)): 0 ERROR, 1 OK, 2 UNFINISHED, 3 SKIPPED, 4 WARNING,
  5 NOTYETRUN, 6 QUEUED (public/backup/util/helper/backup_cron_helper.class.php:37-49).
- quiz_attempts.state: inprogress, overdue, finished, abandoned (mod/quiz install.xml);
  the calendar keeps a 'close' event per quiz with a timeclose (mod/quiz/lib.php).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from tests.moodle_double.scenario_base import ScenarioBase

EMPTY_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
BACKUP_ERROR, BACKUP_OK, BACKUP_UNFINISHED, BACKUP_SKIPPED = "0", "1", "2", "3"
BACKUP_WARNING, BACKUP_NOTYETRUN, BACKUP_QUEUED = "4", "5", "6"


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - Moodle's content address


def pool_path(dataroot: Path, contenthash: str) -> Path:
    return dataroot / "filedir" / contenthash[:2] / contenthash[2:4] / contenthash


class ContentRows(ScenarioBase):
    # ------------------------------------------------------------------ files
    def file(self, content: bytes = b"hello", *, filename: str = "notes.txt",
             contextid: int = 1, component: str = "user", filearea: str = "private",
             itemid: int = 0, filepath: str = "/", userid: int | None = 2,
             dataroot: Path | None = None, contenthash: str | None = None,
             filesize: int | None = None, status: int = 0,
             mimetype: str | None = "text/plain") -> str:
        """One files row (and its directory row); writes the pool file when ``dataroot`` is
        given. ``contenthash``/``filesize`` override the true values to fake damage.
        Returns the contenthash."""
        real = sha1(content)
        digest = contenthash or real
        if dataroot is not None and content:
            path = pool_path(dataroot, real if contenthash is None else digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        rows = [self._file_row(contextid, component, filearea, itemid, filepath, ".",
                               EMPTY_SHA1, 0, userid, None, 0)]
        rows.append(self._file_row(contextid, component, filearea, itemid, filepath, filename,
                                   digest, len(content) if filesize is None else filesize,
                                   userid, mimetype, status))
        ph = self.tables.files.c.pathnamehash
        self.delete("files", ph.in_([r["pathnamehash"] for r in rows]))
        self.insert("files", rows)
        return digest

    def _file_row(self, contextid: int, component: str, filearea: str, itemid: int,
                  filepath: str, filename: str, contenthash: str, filesize: int,
                  userid: int | None, mimetype: str | None, status: int) -> dict[str, object]:
        pathname = f"/{contextid}/{component}/{filearea}/{itemid}{filepath}{filename}"
        return {"contenthash": contenthash, "pathnamehash": sha1(pathname.encode()),
                "contextid": contextid, "component": component, "filearea": filearea,
                "itemid": itemid, "filepath": filepath, "filename": filename,
                "userid": userid, "filesize": filesize, "mimetype": mimetype,
                "status": status, "source": filename if filename != "." else None,
                "author": "Admin User", "license": "unknown",
                "timecreated": self.now - 86400, "timemodified": self.now - 86400}

    def files(self, count: int, *, dataroot: Path | None = None, size: int = 1024,
              component: str = "mod_resource", filearea: str = "content") -> list[str]:
        """``count`` distinct files of ``size`` bytes; returns their contenthashes."""
        return [self.file(f"file {i} ".encode().ljust(size, b"."), filename=f"f{i}.bin",
                          component=component, filearea=filearea, itemid=i,
                          dataroot=dataroot, mimetype="application/octet-stream")
                for i in range(count)]

    # ------------------------------------------------------------------ backups
    def backup_status(self, course_ids: Iterable[int], laststatus: str = BACKUP_OK, *,
                      ended_ago: int = 3 * 3600, took: int = 120) -> Self:
        """backup_courses rows for automated backups with ``laststatus``."""
        end = self.now - ended_ago
        self.insert("backup_courses", [{
            "courseid": cid, "laststarttime": end - took, "lastendtime": end,
            "laststatus": laststatus, "nextstarttime": end + 86400} for cid in course_ids])
        return self

    # ------------------------------------------------------------------ quiz
    def quiz_open_with_attempts(self, n_in_progress: int = 30, timeclose: int | None = None,
                                *, course_id: int = 1, n_finished: int = 0,
                                timelimit: int = 3600, name: str = "Final exam") -> int:
        """A quiz open now (closing at ``timeclose``, default in 1 h) with attempts in
        progress by fresh users; returns the quiz id."""
        close = self.now + 3600 if timeclose is None else timeclose
        quiz_id = self.insert("quiz", {
            "course": course_id, "name": name, "intro": "", "timeopen": self.now - 7200,
            "timeclose": close, "timelimit": timelimit, "preferredbehaviour": "deferredfeedback",
            "sumgrades": 10, "grade": 10, "timecreated": self.now - 86400,
            "timemodified": self.now - 86400, "password": "", "subnet": "",
            "browsersecurity": "-"})[0]
        self.insert("event", {
            "name": f"{name} closes", "description": "", "courseid": course_id,
            "modulename": "quiz", "instance": quiz_id, "type": 1, "eventtype": "close",
            "timestart": close, "timesort": close, "uuid": "", "timemodified": self.now})
        rows = []
        for i in range(n_in_progress + n_finished):
            finished = i >= n_in_progress
            start = self.now - 600 - 10 * i
            rows.append({
                "quiz": quiz_id, "userid": 1000 + i, "attempt": 1, "uniqueid": quiz_id * 100000 + i,
                "layout": "1,2,3,0", "state": "finished" if finished else "inprogress",
                "timestart": start, "timefinish": start + 300 if finished else 0,
                "timemodified": start + (300 if finished else 60),
                "timecheckstate": None if finished else min(close, start + timelimit),
                "sumgrades": 7.5 if finished else None})
        self.insert("quiz_attempts", rows)
        return quiz_id
