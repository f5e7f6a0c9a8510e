#!/usr/bin/env python3
"""modelgate_client - a small client for the modelgate scanner service.

Standard library only (Python 3.8+); copy this one file into a pipeline.
The REST API it speaks is docs/rest.md; the report is the document of
report.md, returned as a dict.

    from modelgate_client import Client, ModelBlocked
    client = Client("http://127.0.0.1:8080")      # token: MODELGATE_TOKEN
    report = client.scan("/models/my-model", raise_on_blocked=True)

As a command: python3 modelgate_client.py --server URL scan PATH...
(exit 0 allowed, 1 blocked, 2 error).
"""
import argparse
import email.utils
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Client", "ModelgateError", "ApiError", "ModelBlocked", "ScanError", "Unreachable"]

MAX_BODY = 64 << 20  # bytes read from one answer
MAX_RETRY_AFTER = 60.0  # seconds: the longest Retry-After honoured


class ModelgateError(Exception):
    """Base of every error raised here."""


class ApiError(ModelgateError):
    """The service answered with an HTTP error; message is its {"error"} text."""

    def __init__(self, status, message):
        super().__init__("HTTP %d: %s" % (status, message))
        self.status = status
        self.message = message


class Unreachable(ModelgateError):
    """No answer: the service is down, the address is wrong, or it timed out."""


class ScanError(ModelgateError):
    """The scan could not decide (outcome ERROR, or it did not finish in time).

    Never a pass: report is the service's report when there is one.
    """

    def __init__(self, message, report=None):
        super().__init__(message)
        self.report = report


class ModelBlocked(ModelgateError):
    """The model violates a blocking policy; report and policies tell which."""

    def __init__(self, report):
        self.report = report
        self.policies = [v.get("policy_name", "?") for v in report.get("policy_violations") or []
                         if isinstance(v, dict)]
        super().__init__("model %s is BLOCKED: %s" % (
            _one_line(report.get("model_uri", "?")), "; ".join(_one_line(p) for p in self.policies) or "no policy named"))


def _one_line(s):
    return "".join(c if c >= " " and c != "\x7f" else "?" for c in str(s))


def raise_for_blocked(report):
    """Returns report when ALLOWED; raises ModelBlocked or ScanError otherwise."""
    outcome = report.get("eval_outcome") if isinstance(report, dict) else None
    if outcome == "ALLOWED":
        return report
    if outcome == "BLOCKED":
        raise ModelBlocked(report)
    raise ScanError("scan of %s ended %s" % (_one_line(report.get("model_uri", "?") if isinstance(report, dict) else "?"),
                                             _one_line(outcome)), report)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The bearer token must not follow a redirect to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """A connection to one modelgate service.

    token defaults to the MODELGATE_TOKEN environment variable; timeout is
    the seconds one HTTP request may take; max_retries bounds the retries of
    a 429 answer (each after its Retry-After).
    """

    def __init__(self, base_url, token=None, timeout=30, max_retries=5):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http:// or https:// URL, not %r" % base_url)
        self.base_url = base_url.rstrip("/")
        self.token = token if token is not None else os.environ.get("MODELGATE_TOKEN") or None
        self.timeout = timeout
        self.max_retries = max_retries
        self._opener = urllib.request.build_opener(_NoRedirect)

    # ---- the API ----

    def health(self):
        """GET /healthz: {"status": "ok"} when the service is up."""
        return self._call("GET", "/healthz")[1]

    def get_scan(self, uuid):
        """GET /api/v1/scans/{uuid}: the report (eval_outcome PENDING while it runs)."""
        return self._call("GET", "/api/v1/scans/" + urllib.parse.quote(str(uuid), safe=""))[1]

    def list_scans(self, **filters):
        """GET /api/v1/scans?filters: {"scans": [...]}, newest first (e.g. limit=10)."""
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        return self._call("GET", "/api/v1/scans" + ("?" + query if query else ""))[1]

    def scan(self, model_uri, license=None, labels=None, wait=True, poll_interval=0.5, timeout=600,
             raise_on_blocked=False):
        """Scans model_uri (a path under the service's roots, or a URI) and returns the report.

        wait=False returns {"uuid": ...} as soon as the service took the scan.
        An ERROR outcome raises ScanError, never returns; BLOCKED raises
        ModelBlocked when raise_on_blocked. timeout bounds the whole wait.
        """
        body = {"model_uri": model_uri}
        if license is not None:
            body["license"] = license
        if labels is not None:
            body["labels"] = labels
        deadline = time.monotonic() + timeout
        path = "/api/v1/scans?wait=true" if wait else "/api/v1/scans"
        status, doc = self._call("POST", path, body, deadline=deadline if wait else None)
        if not wait:
            return doc
        report = self._wait(doc, poll_interval, deadline)
        if raise_on_blocked:
            return raise_for_blocked(report)
        if report.get("eval_outcome") not in ("ALLOWED", "BLOCKED"):
            raise_for_blocked(report)
        return report

    def wait_for(self, uuid, poll_interval=0.5, timeout=600):
        """Polls scan uuid until it is no longer PENDING; returns the report."""
        return self._wait({"uuid": uuid}, poll_interval, time.monotonic() + timeout)

    raise_for_blocked = staticmethod(raise_for_blocked)

    # ---- plumbing ----

    def _wait(self, doc, poll_interval, deadline):
        while True:
            if not isinstance(doc, dict):
                raise ScanError("the service answered with no JSON object")
            outcome = doc.get("eval_outcome")
            if outcome is not None and outcome != "PENDING":
                return doc
            uuid = doc.get("uuid")
            if not isinstance(uuid, str) or not uuid:
                raise ScanError("the service answered with neither a report nor a scan uuid")
            if time.monotonic() + poll_interval > deadline:
                raise ScanError("scan %s did not finish in time" % _one_line(uuid), doc if outcome else None)
            time.sleep(poll_interval)
            doc = self.get_scan(uuid)

    def _call(self, method, path, body=None, deadline=None):
        """One request, retrying 429 after Retry-After; returns (status, decoded JSON)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in range(self.max_retries + 1):
            timeout = self.timeout if deadline is None else max(1.0, deadline - time.monotonic())
            req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
            try:
                with self._opener.open(req, timeout=timeout) as r:
                    return r.status, _decode(r.read(MAX_BODY + 1), r.status)
            except urllib.error.HTTPError as e:
                text = e.read(MAX_BODY + 1)
                retry = _retry_after(e.headers.get("Retry-After"))
                e.close()
                if e.code == 429 and attempt < self.max_retries:
                    if deadline is None or time.monotonic() + retry < deadline:
                        time.sleep(retry)
                        continue
                raise ApiError(e.code, _error_text(text, e.reason)) from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise Unreachable("cannot reach %s: %s" % (self.base_url, reason)) from None


def _decode(raw, status):
    if len(raw) > MAX_BODY:
        raise ApiError(status, "the answer is over %d MiB" % (MAX_BODY >> 20))
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        raise ApiError(status, "the answer is not JSON") from None


def _error_text(raw, reason):
    try:
        msg = json.loads(raw[:MAX_BODY].decode("utf-8")).get("error")
        if isinstance(msg, str):
            return msg
    except (ValueError, AttributeError):
        pass
    return str(reason)


def _retry_after(value):
    """Seconds to wait: delta-seconds or an HTTP date; 1 when absent or bad."""
    wait = 1.0
    if value:
        value = value.strip()
        if value.isdigit():
            wait = float(value)
        else:
            try:
                wait = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError):
                pass
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


def main(argv=None):
    """The command line: exit 0 allowed, 1 blocked, 2 error."""
    ap = argparse.ArgumentParser(prog="modelgate_client.py", description="Scan models with a modelgate service.")
    ap.add_argument("--server", required=True, help="the service's base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--token", help="bearer token (default: $MODELGATE_TOKEN)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait for each scan (default 600)")
    sub = ap.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("scan", help="scan each PATH|URI (paths are resolved by the service)")
    sp.add_argument("--license", help="the model's license when its files name none")
    sp.add_argument("--json", action="store_true", help="print each report as JSON")
    sp.add_argument("uris", nargs="+", metavar="PATH|URI")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    try:
        client = Client(args.server, token=args.token)
    except ValueError as e:
        print("modelgate_client: %s" % e, file=sys.stderr)
        return 2
    code = 0
    for uri in args.uris:
        try:
            report = client.scan(uri, license=args.license, timeout=args.timeout)
        except ScanError as e:
            report = e.report
            print("modelgate_client: %s: %s" % (_one_line(uri), e), file=sys.stderr)
        except ModelgateError as e:
            print("modelgate_client: %s: %s" % (_one_line(uri), e), file=sys.stderr)
            code = 2
            continue
        outcome = report.get("eval_outcome") if isinstance(report, dict) else None
        rc = {"ALLOWED": 0, "BLOCKED": 1}.get(outcome, 2)
        code = max(code, rc)
        if args.json and report is not None:
            print(json.dumps(report, indent=2))
        elif rc == 1:
            print(ModelBlocked(report))
        elif report is not None:
            print("%s %s" % (_one_line(outcome), _one_line(report.get("model_uri", uri))))
    return code


if __name__ == "__main__":
    sys.exit(main())
