"""A fake PyPI (warehouse) over real HTTP on loopback, for tests, benchmarks and the demo.

It answers like pypi.org and files.pythonhosted.org for what a follower uses:

* ``POST /pypi`` XML-RPC: ``changelog_last_serial()``, ``changelog_since_serial(n)``
  (rows ``[name, version, timestamp, action, serial]``, serial > n, oldest first, at
  most ``changelog_cap`` = 50,000 rows), ``list_packages_with_serial()``. Actions:
  ``create``, ``add Owner <user>`` (after ``create``, as warehouse writes it),
  ``new release``, ``add source file F``, ``add <python tag> file F`` for wheels
  (``py3``, ``py2.py3``, ``cp312``...), ``remove file F``, ``remove release``,
  ``remove project``, ``yank release``, ``unyank release``. Names are the projects'
  own spellings (not normalized); version is nil for project-level rows.
* ``GET /pypi/<p>/json`` and ``/pypi/<p>/<v>/json``: warehouse's JSON API with
  ``info``, ``urls[]`` (``digests`` sha256/blake2b_256/md5, ``size``, ``upload_time``,
  ``upload_time_iso_8601``, ``yanked``, ``yanked_reason``, ``packagetype``, ``url``),
  ``releases`` (project route only), ``last_serial``; header ``X-PyPI-Last-Serial``.
  404 ``{"message": "Not Found"}`` for an unknown project or version, or a project
  without releases. Another spelling of the name answers 301 to the project's own.
* ``GET /simple/`` and ``/simple/<p>/``: PEP 691 JSON (``Accept:
  application/vnd.pypi.simple.v1+json`` or ``?format=``; API version 1.1; ``hashes``
  carry sha256 and blake2b_256; ``upload-time`` has no fractional part for files
  uploaded at a whole second) or PEP 503 HTML (``#sha256=`` links, ``data-yanked``);
  header ``X-PyPI-Last-Serial``. A non-normalized name, or no trailing slash,
  answers 301 to ``/simple/<normalized>/``.
* ``GET /packages/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>``: the file's bytes (b2 is
  the hex BLAKE2b-256 of the bytes). Removed files answer 404.

PyPI's rules hold unless a switch says otherwise: a filename is never reused (even
after removal), and a release older than 14 days takes no new files.

Attack switches
---------------

Rule switches live on the ``Index`` (``index.allow_filename_reuse``,
``index.allow_late_files``); the others are ``Attacks`` fields set with
``FakeIndexServer.set_attacks(client=None, **switches)``. From another process:
``POST /_admin/attack`` (see ``fakeindex.admin``; loopback clients only).

1. **swap** (``swap=[filenames]``): each listed live file is shown with other bytes
   (variant ``"swap"``, usually another size too): JSON API and Simple give their
   sha256, blake2b_256, md5 and size, the URL is the new bytes' BLAKE2b path, and
   that path serves them. The old path answers 404. The changelog does not change.
2. **resurrect** (``index.allow_filename_reuse = True``): ``add_file`` accepts a
   filename used before and since removed; the upload gets other content (variant
   ``"1"``, ``"2"``... by reuse count) and a normal ``add ... file`` changelog row.
   A filename that is live is still refused.
3. **late file** (``index.allow_late_files = True``): ``add_file`` accepts a new file
   for a release created more than 14 days before the clock's now.
4. **bad path** (``bad_path=[filenames]``): the stated digests are right, but the
   URL's BLAKE2b directories are another (well-formed) digest; the right bytes are
   served at that wrong path.
5. **bytes mismatch** (``corrupt=[filenames]``): digests and URL are right, but the
   bytes served have their last byte flipped (same size, other hashes).
6. **stale responses** (``stale_lag=K, stale_count=N``): the next N answers of the
   JSON API and the Simple API (N = -1: all, until switched off) show the index as
   of serial (last serial - K): files, yanks and releases of that time, and
   ``last_serial`` / ``X-PyPI-Last-Serial`` of that time; projects created later
   answer 404. Then answers are fresh again. XML-RPC is never stale.
7. **rate limiting** (``rate_limit=R, rate_window=W``): each client address may make
   R requests (admin routes not counted) per W-second window starting at its first
   request; beyond that: 429 ``Too Many Requests`` with ``Retry-After`` (whole
   seconds until the window ends, at least 1).
8. **split view** (``set_attacks(client="127.0.0.3", ...)`` or
   ``client="ua:<exact User-Agent>"``): a client matching the key (User-Agent key
   first, then source address) gets its own switches, starting from the default
   ones. Combined with ``swap`` it shows different hashes to different clients;
   ``hide=[filenames]`` leaves files out of that client's JSON and Simple answers
   (and 404s their downloads). The changelog is the same for all.
9. **hostile bodies** (``hostile=MODE``, on the kinds of answer in ``hostile_on``,
   default JSON API, Simple and XML-RPC; ``"files"`` may be added):
   ``bad_json``: the body is cut to half (Content-Length matches the cut body);
   ``wrong_content_type``: ``Content-Type: text/html; charset=utf-8``;
   ``bad_digest_length``: every stated digest loses its last hex character
   (JSON and Simple, including HTML ``#sha256=``);
   ``huge``: the real body followed by spaces up to ``huge_size`` bytes (still valid
   JSON/XML; default 32 MiB);
   ``short_body``: full Content-Length, half the body, then the connection closes;
   ``drip``: ``drip_bytes`` bytes every ``drip_interval`` seconds.
   ``deep``: XML-RPC answers only (others are sent as they are): the first string in
   the answer becomes an array nested ``deep_depth`` levels deep (default 1,000:
   about 40 KB of valid XML) around it; in a changelog, the first row's name.
   Error answers (404, 301, 429) are never made hostile.

The public API: ``Index`` (state), ``FakeIndexServer`` (HTTP), ``Attacks`` (switches).
"""

from pypi_witness.fakeindex.attacks import Attacks
from pypi_witness.fakeindex.server import FakeIndexServer
from pypi_witness.fakeindex.state import Index

__all__ = ["Attacks", "FakeIndexServer", "Index"]
