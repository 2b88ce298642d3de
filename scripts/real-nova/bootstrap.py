#!/usr/bin/python3
"""API-level setup of the real-Nova test cloud, plus its tiny Neutron stand-in.

Run it with Debian's /usr/bin/python3 (the OpenStack packages live there, and
only the standard library is used here). Every subcommand is idempotent.

    bootstrap.py wait-http URL [--pid PID] [--timeout S]
    bootstrap.py identity          service/demo projects, users, roles, catalog
    bootstrap.py image             public raw image (CA_NOVA_IMAGE, 1 MiB of zeros)
    bootstrap.py flavors           m1.tiny .. m1.xlarge, ids 1-5
    bootstrap.py quota             demo project's instances/cores/ram
    bootstrap.py wait-placement    a resource provider with inventory exists
    bootstrap.py wait-compute      nova-compute is up (and reported after --since)
    bootstrap.py smoke             boot one server as admin, see ACTIVE, delete it
    bootstrap.py fake-neutron      serve the read-only Neutron stand-in

Settings come from CA_NOVA_* environment variables (up.sh exports them); the
defaults are the ports and credentials documented in README.md.
"""
import argparse
import calendar
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENV = os.environ


def _port(name, default):
    return int(ENV.get("CA_NOVA_%s_PORT" % name, default))


HOST = "127.0.0.1"
KEYSTONE = "http://%s:%d/v3" % (HOST, _port("KEYSTONE", 15000))
NOVA = "http://%s:%d/v2.1" % (HOST, _port("NOVA", 18774))
GLANCE = "http://%s:%d" % (HOST, _port("GLANCE", 19292))
PLACEMENT = "http://%s:%d" % (HOST, _port("PLACEMENT", 18778))
NEUTRON_PORT = _port("NEUTRON", 19696)
REGION = "RegionOne"

ADMIN_PASSWORD = ENV.get("CA_NOVA_ADMIN_PASSWORD", "admin")
DEMO_PASSWORD = ENV.get("CA_NOVA_DEMO_PASSWORD", "demo")
SERVICE_PASSWORD = ENV.get("CA_NOVA_SERVICE_PASSWORD", "secret")
IMAGE_NAME = ENV.get("CA_NOVA_IMAGE", "cirros-fake")
MICROVERSION = "compute 2.79"

# (id, name, vcpus, ram MB, disk GB)
FLAVORS = (
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
)


def fail(msg):
    sys.stderr.write("bootstrap.py: %s\n" % msg)
    sys.exit(1)


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %s: %s" % (status, body[:400]))
        self.status = status


def call(method, url, token=None, body=None, data=None, headers=None, timeout=120):
    """One HTTP exchange. Returns (status, headers, decoded JSON or None).
    With an AdminToken, a 401 renews the token and retries once."""
    if isinstance(token, AdminToken):
        try:
            return call(method, url, token.value, body, data, headers, timeout)
        except HttpError as err:
            if err.status != 401:
                raise
            token.renew()
            return call(method, url, token.value, body, data, headers, timeout)
    hdrs = {"Accept": "application/json"}
    if token:
        hdrs["X-Auth-Token"] = token
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif data is not None:
        hdrs["Content-Type"] = "application/octet-stream"
    hdrs.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, resp.headers, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as err:
        raise HttpError(err.code, err.read().decode(errors="replace")) from None


class AdminToken:
    """The admin's project-scoped token. It is kept in CA_NOVA_TOKEN_FILE between
    runs: issuing one costs a bcrypt check, and every API worker validates a new
    token against Keystone once (about a second) before it caches it."""

    def __init__(self):
        self.file = ENV.get("CA_NOVA_TOKEN_FILE")
        self.value = self._load() or self.renew()

    def _load(self):
        try:
            with open(self.file) as f:
                saved = json.load(f)
        except (TypeError, OSError, ValueError):
            return None
        if saved.get("keystone") == KEYSTONE and saved.get("expires", 0) > time.time() + 900:
            return saved.get("token")
        return None

    def renew(self):
        auth = {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
        _, headers, body = call("POST", KEYSTONE + "/auth/tokens", body={"auth": auth})
        self.value = headers["X-Subject-Token"]
        if self.file:
            expires = calendar.timegm(time.strptime(body["token"]["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
            fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"keystone": KEYSTONE, "token": self.value, "expires": expires}, f)
        return self.value


def get_token():
    return AdminToken()


def nova(method, path, token, body=None):
    return call(method, NOVA + path, token, body=body,
                headers={"OpenStack-API-Version": MICROVERSION})[2]


# ------------------------------------------------------------------ identity
class Identity:
    """Reads each Keystone collection once and creates only what is missing
    (every Keystone request costs about 0.3 s here)."""

    def __init__(self, token):
        self.token = token
        self.cache = {}
        self.assignments = None

    def get(self, path):
        return call("GET", KEYSTONE + path, self.token)[2]

    def all(self, collection):
        if collection not in self.cache:
            self.cache[collection] = self.get("/" + collection)[collection]
        return self.cache[collection]

    def lookup(self, collection, name):
        return [item for item in self.all(collection) if item.get("name") == name]

    def ensure(self, collection, kind, attrs):
        found = self.lookup(collection, attrs["name"])
        if found:
            return found[0]
        created = call("POST", "%s/%s" % (KEYSTONE, collection), self.token, body={kind: attrs})[2][kind]
        self.all(collection).append(created)
        print("  created %s %s" % (kind, attrs["name"]))
        return created

    def grant(self, project, user, role):
        if self.assignments is None:
            self.assignments = {(a["scope"]["project"]["id"], a["user"]["id"], a["role"]["id"])
                                for a in self.get("/role_assignments")["role_assignments"]
                                if "project" in a.get("scope", {}) and "user" in a}
        key = (project["id"], user["id"], role["id"])
        if key not in self.assignments:
            call("PUT", "%s/projects/%s/users/%s/roles/%s" % ((KEYSTONE,) + key),
                 self.token)
            self.assignments.add(key)
            print("  granted %s on %s to %s" % (role["name"], project["name"], user["name"]))

    def register(self, name, service_type, url):
        services = [s for s in self.all("services") if s["type"] == service_type]
        if services:
            service = services[0]
        else:
            service = call("POST", KEYSTONE + "/services", self.token,
                           body={"service": {"name": name, "type": service_type, "enabled": True}})[2]["service"]
            print("  created service %s (%s)" % (name, service_type))
        existing = {e["interface"]: e for e in self.all("endpoints") if e["service_id"] == service["id"]}
        for interface in ("public", "internal", "admin"):
            endpoint = existing.get(interface)
            if endpoint and endpoint["url"] == url:
                continue
            if endpoint:  # a port was changed: replace the stale endpoint
                call("DELETE", "%s/endpoints/%s" % (KEYSTONE, endpoint["id"]), self.token)
            call("POST", KEYSTONE + "/endpoints", self.token, body={"endpoint": {
                "service_id": service["id"], "interface": interface, "url": url,
                "region_id": REGION, "enabled": True}})
            print("  endpoint %s %s -> %s" % (service_type, interface, url))


def cmd_identity(_args):
    ks = Identity(get_token())
    role = {name: ks.ensure("roles", "role", {"name": name})
            for name in ("admin", "member", "reader", "service")}
    service = ks.ensure("projects", "project", {"name": "service", "domain_id": "default",
                                                "description": "OpenStack service users"})
    demo = ks.ensure("projects", "project", {"name": "demo", "domain_id": "default",
                                             "description": "condor-autoscaler test project"})
    for name in ("nova", "glance", "placement"):
        user = ks.ensure("users", "user", {"name": name, "domain_id": "default",
                                           "password": SERVICE_PASSWORD, "default_project_id": service["id"]})
        ks.grant(service, user, role["admin"])
        ks.grant(service, user, role["service"])
    demo_user = ks.ensure("users", "user", {"name": "demo", "domain_id": "default",
                                            "password": DEMO_PASSWORD, "default_project_id": demo["id"]})
    ks.grant(demo, demo_user, role["member"])
    ks.grant(demo, demo_user, role["reader"])
    ks.grant(demo, ks.lookup("users", "admin")[0], role["admin"])
    ks.register("nova", "compute", NOVA)
    ks.register("glance", "image", GLANCE)
    ks.register("placement", "placement", PLACEMENT)


# ------------------------------------------------------------------ glance, nova
def cmd_image(_args):
    token = get_token()
    query = urllib.parse.urlencode({"name": IMAGE_NAME})
    for image in call("GET", "%s/v2/images?%s" % (GLANCE, query), token)[2]["images"]:
        if image["status"] == "active":
            print("  image %s present (%s)" % (IMAGE_NAME, image["id"]))
            return
        call("DELETE", "%s/v2/images/%s" % (GLANCE, image["id"]), token)  # a half-done upload
    image = call("POST", GLANCE + "/v2/images", token, body={
        "name": IMAGE_NAME, "disk_format": "raw", "container_format": "bare",
        "visibility": "public", "min_disk": 0, "min_ram": 0})[2]
    call("PUT", "%s/v2/images/%s/file" % (GLANCE, image["id"]), token, data=bytes(1024 * 1024))
    print("  uploaded image %s (%s)" % (IMAGE_NAME, image["id"]))


def cmd_flavors(_args):
    token = get_token()
    present = {f["name"] for f in nova("GET", "/flavors?is_public=None", token)["flavors"]}
    for fid, name, vcpus, ram, disk in FLAVORS:
        if name in present:
            continue
        nova("POST", "/flavors", token, body={"flavor": {
            "id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
            "os-flavor-access:is_public": True}})
        print("  created flavor %s" % name)


def cmd_quota(args):
    token = get_token()
    project = Identity(token).lookup("projects", args.project)[0]
    wanted = {"instances": args.instances, "cores": args.cores, "ram": args.ram}
    got = nova("PUT", "/os-quota-sets/%s" % project["id"], token, body={"quota_set": wanted})["quota_set"]
    print("  quota %s: %s" % (args.project, ", ".join("%s=%s" % (k, got[k]) for k in wanted)))


# ------------------------------------------------------------------ waits
def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def until(what, timeout, probe, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if probe():
                return
        except (HttpError, OSError) as err:
            last = err
        time.sleep(interval)
    fail("timed out after %ss waiting for %s%s" % (timeout, what, " (last error: %s)" % last if last else ""))


def cmd_wait_http(args):
    def answers():
        if args.pid and not pid_alive(args.pid):
            fail("process %d died while waiting for %s" % (args.pid, args.url))
        try:
            urllib.request.urlopen(args.url, timeout=10).read()
        except urllib.error.HTTPError:
            pass  # any HTTP status means the server is up
        return True
    until(args.url, args.timeout, answers, interval=0.5)


def cmd_wait_placement(args):
    token = get_token()

    def inventory():
        providers = call("GET", PLACEMENT + "/resource_providers", token)[2]["resource_providers"]
        for rp in providers:
            inv = call("GET", "%s/resource_providers/%s/inventories" % (PLACEMENT, rp["uuid"]), token)[2]
            if inv["inventories"].get("VCPU"):
                return True
        return False
    until("a placement resource provider with VCPU inventory", args.timeout, inventory, interval=2)


def cmd_wait_compute(args):
    token = get_token()

    def reported():
        for svc in nova("GET", "/os-services?binary=nova-compute", token)["services"]:
            if svc["state"] != "up" or svc["status"] != "enabled" or not svc.get("updated_at"):
                continue
            stamp = calendar.timegm(time.strptime(svc["updated_at"][:19], "%Y-%m-%dT%H:%M:%S"))
            if stamp >= args.since:
                return True
        return False
    until("nova-compute to report in", args.timeout, reported, interval=2)


def cmd_smoke(args):
    """Boot one server in the admin project (never touches the demo quota)."""
    token = get_token()
    query = urllib.parse.urlencode({"name": IMAGE_NAME})
    image = call("GET", "%s/v2/images?%s" % (GLANCE, query), token)[2]["images"][0]
    started = time.time()
    server = nova("POST", "/servers", token, body={"server": {
        "name": "real-nova-smoke", "imageRef": image["id"], "flavorRef": "1", "networks": "none"}})["server"]
    status = {}

    def active():
        s = nova("GET", "/servers/%s" % server["id"], token)["server"]
        status["last"] = s["status"]
        if s["status"] == "ERROR":
            fail("smoke server went to ERROR: %s" % s.get("fault", {}).get("message"))
        return s["status"] == "ACTIVE"
    try:
        until("the smoke server to become ACTIVE", args.timeout, active, interval=0.5)
        print("  smoke server ACTIVE after %.1fs" % (time.time() - started))
    finally:
        try:
            nova("DELETE", "/servers/%s" % server["id"], token)
        except HttpError as err:
            if err.status != 404:
                raise

    def gone():
        try:
            nova("GET", "/servers/%s" % server["id"], token)
            return False
        except HttpError as err:
            if err.status == 404:
                return True
            raise
    until("the smoke server to be deleted", args.timeout, gone, interval=0.5)


# ------------------------------------------------------------------ fake neutron
class FakeNeutron(BaseHTTPRequestHandler):
    """Nova asks Neutron for ports and security groups even for servers with
    "networks": "none" (listing details, deleting). Every GET of a collection
    gets an empty list; everything else gets a Neutron-style 404."""

    protocol_version = "HTTP/1.1"

    def reply(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        segments = [s for s in urllib.parse.urlsplit(self.path).path.split("/") if s]
        if not segments:
            return self.reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": "http://%s:%d/v2.0/" % (HOST, NEUTRON_PORT)}]}]})
        if segments[0] == "v2.0":
            segments = segments[1:]
        if not segments:
            return self.reply(200, {"resources": []})
        if len(segments) == 1:
            collection = segments[0]
            if collection.endswith(".json"):
                collection = collection[:-len(".json")]
            return self.reply(200, {collection.replace("-", "_"): []})
        return self.not_found()

    def not_found(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.reply(404, {"NeutronError": {"type": "NotFound", "detail": "",
                                          "message": "read-only fake neutron"}})

    do_POST = do_PUT = do_DELETE = do_PATCH = not_found

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


def cmd_fake_neutron(args):
    ThreadingHTTPServer((HOST, args.port), FakeNeutron).serve_forever()


# ------------------------------------------------------------------ main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--pid", type=int)
    p.add_argument("--timeout", type=float, default=180)
    p.set_defaults(func=cmd_wait_http)

    for name, func in (("identity", cmd_identity), ("image", cmd_image), ("flavors", cmd_flavors)):
        sub.add_parser(name).set_defaults(func=func)

    p = sub.add_parser("quota")
    p.add_argument("--project", default="demo")
    p.add_argument("--instances", type=int, default=int(ENV.get("CA_NOVA_QUOTA_INSTANCES", 3)))
    p.add_argument("--cores", type=int, default=int(ENV.get("CA_NOVA_QUOTA_CORES", 4)))
    p.add_argument("--ram", type=int, default=int(ENV.get("CA_NOVA_QUOTA_RAM", 32768)))
    p.set_defaults(func=cmd_quota)

    p = sub.add_parser("wait-placement")
    p.add_argument("--timeout", type=float, default=180)
    p.set_defaults(func=cmd_wait_placement)

    p = sub.add_parser("wait-compute")
    p.add_argument("--since", type=float, default=0, help="epoch seconds the heartbeat must be newer than")
    p.add_argument("--timeout", type=float, default=180)
    p.set_defaults(func=cmd_wait_compute)

    p = sub.add_parser("smoke")
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(func=cmd_smoke)

    p = sub.add_parser("fake-neutron")
    p.add_argument("--port", type=int, default=NEUTRON_PORT)
    p.set_defaults(func=cmd_fake_neutron)

    args = parser.parse_args()
    try:
        args.func(args)
    except HttpError as err:
        fail(str(err))


if __name__ == "__main__":
    main()
