"""Doorstep through its generated Python bindings: the same API the Android and iOS apps use.

Each test opens real home databases (encrypted with SQLCipher where a key is given), and the
sync tests talk to the real `doorstep serve` of the `server` fixture.
"""

import asyncio
import datetime
import gc
import os
import threading
import uuid

import pytest

from doorstep_ffi import (
    ContactKind,
    CustomerStatus,
    DoorstepError,
    Home,
    NewContact,
    NewCustomer,
    NewPolicy,
    NewProblem,
    NewVisit,
    Outcome,
    PaymentMethod,
    PolicyStatus,
    ProblemAction,
    Role,
    SyncEvent,
    SyncListener,
)

NOW = datetime.datetime.now().astimezone()
TODAY = NOW.date().isoformat()


def at(hour: int, minute: int = 0) -> str:
    """A moment of today, with the machine's UTC offset, as RFC 3339."""
    return NOW.replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat()


def new_home(tmp_path, user="A-0001", role=Role.AGENT, key=None, name="home.db"):
    return Home.create(str(tmp_path / name), user, role, key)


def customer(home, name="Wang Fang"):
    return home.add_customer(NewCustomer(
        name=name, phones=["13800001111"], postcode="200001", birthday="1980-05-02",
        grade="B", status=CustomerStatus.CLOSED,
    ))


def collection_visit(home, c, policy=None, hour=9, minute=30):
    return home.record_visit(c.id, NewVisit(
        kind="collection", purposes=["premium_collected"],
        outcome=Outcome(code="paid", amount_cents=360000),
        policies=[policy.id] if policy else [],
        start=at(hour, minute), end=at(hour, minute + 20), notes="paid at the door",
    ))


def run(coro):
    return asyncio.run(coro)


def test_visits_recorded_offline_reach_the_server_record(tmp_path, server):
    home = new_home(tmp_path, key=os.urandom(32))
    c = customer(home)
    p = home.add_policy(c.id, NewPolicy(
        number="P-1001", premium_cents=360000, payment_method=PaymentMethod.BANK_DEDUCTION,
        due_date=TODAY, status=PolicyStatus.NORMAL,
    ))
    v = collection_visit(home, c, p)
    home.record_contact(c.id, NewContact(kind=ContactKind.CALL, at=at(8), purpose="appointment"))
    home.write_log(TODAY, "Visited Wang: paid at the door.")
    home.submit_report(TODAY, "Good day", [NewProblem(text="Li's bank refuses the deduction")])

    # Offline: everything is on the phone and waits for the server.
    assert home.visit(v.id).number == 1
    assert home.today(TODAY).effective_visits.actual == 1
    st = home.sync_status()
    assert not st.running and st.server is None and st.pending_documents >= 2

    assert home.login(server.url, server.issue("A-0001")) == server.url
    home.start_sync(online=False)
    with pytest.raises(DoorstepError.Offline):
        run(home.sync_now())

    # Back online syncs at once; sync_now runs (or rides) a run after it.
    home.network_changed(True)
    report = run(home.sync_now())
    assert report.pending_documents == 0 and not report.rejected, report
    st = home.sync_status()
    assert st.running and st.online and st.last_success is not None
    assert st.pending_documents == 0, st

    status, visits = server.get(f"/v1/agents/A-0001/visits?date={TODAY}", server.manager_token)
    assert status == 200, visits
    mine = [x for x in visits if x["id"] == v.id]
    assert len(mine) == 1, visits
    assert mine[0]["outcome"]["amount_cents"] == 360000
    assert mine[0]["customer"] == c.id
    home.stop_sync()


def test_errors_arrive_as_typed_exceptions(tmp_path, server):
    with pytest.raises(DoorstepError.NotInitialised):
        Home.open(str(tmp_path / "nowhere.db"), None)
    with pytest.raises(DoorstepError.Invalid):
        new_home(tmp_path, key=b"too short")
    with pytest.raises(DoorstepError.Invalid):
        new_home(tmp_path, user="   ")

    home = new_home(tmp_path)
    with pytest.raises(DoorstepError.Invalid):
        home.customer("not-a-uuid")
    with pytest.raises(DoorstepError.NotFound):
        home.customer(str(uuid.uuid4()))
    with pytest.raises(DoorstepError.Invalid):
        customer(home, name="  ")
    c = customer(home)
    with pytest.raises(DoorstepError.Invalid) as e:
        home.record_visit(c.id, NewVisit(kind="collection", purposes=["premium_collected"],
                                         start=at(10), end=at(9)))
    assert "before it starts" in str(e.value)
    with pytest.raises(DoorstepError.Invalid):
        home.record_visit(c.id, NewVisit(kind="collection", purposes=[], start="9 o'clock",
                                         end=at(9)))
    with pytest.raises(DoorstepError.Invalid):
        home.today("2026-13-01")
    v = collection_visit(home, c)
    with pytest.raises(DoorstepError.Forbidden):
        home.comment_visit(v.id, "well done")
    with pytest.raises(DoorstepError.Forbidden):
        home.answer_problem(str(uuid.uuid4()), "no", ProblemAction.RESOLVE)

    with pytest.raises(DoorstepError.SyncOff):
        run(home.sync_now())
    with pytest.raises(DoorstepError.NotLoggedIn):
        home.start_sync(True)
    with pytest.raises(DoorstepError.Invalid):
        home.login("ftp://example", "token")
    home.login(server.url, "not-a-token-the-server-issued")
    home.start_sync(online=True)
    with pytest.raises(DoorstepError.Unauthorized):
        run(home.sync_now())
    assert home.sync_status().last_error

    # Every error above left the library and the home usable.
    assert [x.id for x in home.visits_on(TODAY)] == [v.id]
    home.stop_sync()


def test_a_visit_form_is_built_from_the_playbook_vocabulary(tmp_path):
    """docs/mobile.md's example: the form's choices come from the playbook in force."""
    home = new_home(tmp_path)
    voc = home.vocabulary("zh")
    assert (voc.playbook, voc.language) == ("insurance", "zh")
    kinds = [(k.code, k.label) for k in voc.visit_kinds]
    assert kinds == [("collection", "收费访"), ("service", "服务访"), ("sales", "销售访")]
    paid = next(o for o in voc.outcomes if o.code == "paid")
    assert paid.requires_amount and not paid.requires_date
    promised = next(o for o in voc.outcomes if o.code == "promised")
    assert promised.requires_date
    # What the form asks follows the flags: "paid" without its amount is refused.
    c = customer(home)
    with pytest.raises(DoorstepError.Invalid) as e:
        home.record_visit(c.id, NewVisit(kind="collection", purposes=["premium_collected"],
                                         outcome=Outcome(code="paid"),
                                         start=at(9), end=at(9, 20)))
    assert "amount" in str(e.value)
    with pytest.raises(DoorstepError.Invalid):
        home.vocabulary("fr")


def test_a_phone_joins_with_the_enrolment_link(tmp_path, server):
    """The link `doorstep admin device issue --link` prints, instead of a token to type."""
    issued = server.admin("device", "issue", "--user", "A-0001", "--link", "--server", server.url)
    assert issued["link"].startswith("doorstep://enrol?")
    home = new_home(tmp_path)
    home.write_log(TODAY, "Visited two customers.")
    assert home.enrol(issued["link"]) == server.url
    home.start_sync(online=True)
    report = run(home.sync_now())
    assert report.pending_documents == 0 and not report.rejected, report
    home.stop_sync()
    with pytest.raises(DoorstepError.Invalid):
        home.enrol("https://example.com/?token=abc")


def test_encrypted_home_is_unreadable_without_its_key(tmp_path):
    key = os.urandom(32)
    secret = "Zhang Secretname"
    enc = new_home(tmp_path, key=key, name="enc.db")
    c = customer(enc, name=secret)
    collection_visit(enc, c)
    plain = new_home(tmp_path, name="plain.db")
    customer(plain, name=secret)
    del enc, plain
    gc.collect()

    def files(prefix):
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(prefix))

    # The control: an unencrypted home shows its header and its customers' names.
    assert (tmp_path / "plain.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert secret.encode() in files("plain.db")
    # The encrypted one shows neither, in the database or its logs.
    assert (tmp_path / "enc.db").read_bytes()[:16] != b"SQLite format 3\x00"
    assert secret.encode() not in files("enc.db")

    path = str(tmp_path / "enc.db")
    with pytest.raises(DoorstepError.ForeignDatabase):
        Home.open(path, None)
    wrong = bytes(b ^ 0xFF for b in key)
    with pytest.raises(DoorstepError.WrongKey):
        Home.open(path, wrong)
    with pytest.raises(DoorstepError.WrongKey):
        Home.open(str(tmp_path / "plain.db"), key)
    again = Home.open(path, key)
    assert [x.name for x in again.customers()] == [secret]
    assert again.identity().user == "A-0001"


class Recorder(SyncListener):
    """The app's side of the callback interface: keeps every event."""

    def __init__(self):
        self.events = []
        self.synced = threading.Event()
        self.lock = threading.Lock()

    def on_event(self, event):
        with self.lock:
            self.events.append(event)
        if event.is_synced():
            self.synced.set()


def test_sync_callback_fires_after_a_write(tmp_path, server):
    home = new_home(tmp_path, user="A-0002", key=os.urandom(32))
    home.login(server.url, server.issue("A-0002"))
    listener = Recorder()
    home.set_listener(listener)
    home.start_sync(online=True)
    # The start-up sync, then the debounced sync after the write.
    assert listener.synced.wait(30), listener.events
    listener.synced.clear()
    c = customer(home, name="Li Lei")
    v = collection_visit(home, c)
    assert listener.synced.wait(30), listener.events
    with listener.lock:
        events = list(listener.events)
    synced = [e for e in events if e.is_synced()]
    assert any(e.report.messages_sent > 0 for e in synced), synced
    statuses = [e.status for e in events if e.is_status_changed()]
    assert any(s.syncing for s in statuses) and not statuses[-1].syncing
    assert isinstance(events[0], SyncEvent)
    status, visits = server.get(f"/v1/agents/A-0002/visits?date={TODAY}", server.manager_token)
    assert status == 200 and v.id in [x["id"] for x in visits], visits

    home.set_listener(None)
    count = len(listener.events)
    run(home.sync_now())
    assert len(listener.events) == count
    home.stop_sync()


def test_calls_from_many_threads_at_once(tmp_path, server):
    home = new_home(tmp_path, key=os.urandom(32))
    home.login(server.url, server.issue("A-0001"))
    home.start_sync(online=True)
    c = customer(home, name="Zhao Min")
    threads, per_thread = 8, 10
    errors = []
    barrier = threading.Barrier(threads)

    def work(n):
        try:
            barrier.wait()
            for i in range(per_thread):
                minute = (n * per_thread + i) % 40
                collection_visit(home, c, hour=11 + n % 6, minute=minute)
                home.record_contact(c.id, NewContact(kind=ContactKind.SMS, at=at(8, i),
                                                     notes=f"thread {n}"))
                home.today(TODAY)
                home.customers()
                home.sync_status()
        except Exception as e:  # noqa: BLE001 - any failure fails the test below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    visits = home.visits_of(c.id)
    assert len(visits) == threads * per_thread
    assert sorted(v.number for v in visits) == list(range(1, threads * per_thread + 1))
    assert len(home.customer_view(c.id).contacts) == threads * per_thread

    run(home.sync_now())
    status, on_server = server.get(f"/v1/agents/A-0001/visits?date={TODAY}", server.manager_token)
    assert status == 200
    assert {v.id for v in visits} <= {x["id"] for x in on_server}
    home.stop_sync()
