"""Evidence as files (API.md "Attachments"), through the real app on both databases.

Real bytes of every accepted kind are made here (Pillow draws the PNG, JPEG and PDF; the DOCX and
XLSX are real Office Open XML packages), uploaded under misleading names, read back and compared;
content that is not evidence is refused whatever it is called.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from api import create_app
from engine.config import EngineConfig
from engine.core import Engine
from engine.services.attachments import MAX_BYTES
from engine.store.models import Attachment, CaseEvent

from .flows import apply, register, repair
from .support import ServiceClient, auth, start_data

MIB = 1024 * 1024


# ---- real files, made here
def image_bytes(fmt: str) -> bytes:
    picture = Image.new("RGB", (8, 6), (200, 30, 30))
    buffer = io.BytesIO()
    picture.save(buffer, fmt)
    return buffer.getvalue()


def office_package(kind: str) -> bytes:
    """A minimal but well-formed DOCX or XLSX (Office Open XML) package."""
    main = {
        "docx": (
            "word/document.xml",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>检测报告 test report</w:t></w:r></w:p></w:body></w:document>",
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        ),
        "xlsx": (
            "xl/workbook.xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>',
            "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        ),
    }[kind]
    part, content_type, xml, rel_type = main
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>',
        )
        package.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_type}" Target="{part}"/></Relationships>',
        )
        package.writestr(part, xml)
    return buffer.getvalue()


ACCEPTED = {
    "png": (lambda: image_bytes("PNG"), "image/png"),
    "jpeg": (lambda: image_bytes("JPEG"), "image/jpeg"),
    "pdf": (lambda: image_bytes("PDF"), "application/pdf"),
    "docx": (
        lambda: office_package("docx"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "xlsx": (
        lambda: office_package("xlsx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
}


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not an office document")
    return buffer.getvalue()


REFUSED = {
    # A Windows executable (DOS stub + PE header) and an ELF binary, named as photos.
    "exe_named_jpg": (
        b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 52 + b"\x80\x00\x00\x00" + b"PE\x00\x00" * 64,
        "photo.jpg",
    ),
    "elf_named_png": (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200, "receipt.png"),
    "html_named_jpg": (b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>", "photo.jpg"),
    "svg_named_png": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.png"),
    "zip_named_docx": (plain_zip(), "report.docx"),
    "text_named_pdf": ("发票金额 1200 元".encode(), "invoice.pdf"),
}


# ---- calls
def upload(
    api: ServiceClient, case_id: str, content: bytes, name: str = "evidence.bin", user: str = "li.na", **form
):
    data = {"file": (io.BytesIO(content), name), **form}
    return api.client.post(
        f"/api/v1/cases/{case_id}/attachments",
        data=data,
        headers=auth(user),
        content_type="multipart/form-data",
    )


def listed(api: ServiceClient, case_id: str, user: str = "sun.li") -> list[dict]:
    response = api.get(f"/api/v1/cases/{case_id}/attachments", user)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def stored_files(engine: Engine) -> list[Path]:
    root = engine.files.root
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def attachment_rows(engine: Engine) -> int:
    with engine.db.unit_of_work(write=False) as uow:
        return uow.session.execute(select(func.count()).select_from(Attachment)).scalar_one()


# ---- what is accepted, and how it comes back
@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_each_kind_of_evidence_is_stored_with_the_type_its_content_shows(api, engine, kind):
    make, content_type = ACCEPTED[kind]
    content = make()
    case = api.start()
    # The name says nothing true about the content: the type is read from the bytes.
    response = upload(api, case["id"], content, name="扫描件.bin", description="客户提供的证据")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["content_type"] == content_type
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["filename"] == "扫描件.bin" and body["uploaded_by"] == "li.na" and body["task_id"] is None
    assert body["description"] == "客户提供的证据" and body["at"]

    assert [item["id"] for item in listed(api, case["id"])] == [body["id"]]
    download = api.get(f"/api/v1/attachments/{body['id']}", "li.na")
    assert download.status_code == 200
    assert download.data == content
    assert download.mimetype == content_type
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%89%AB%E6%8F%8F%E4%BB%B6.bin" in disposition
    assert download.headers["X-Content-Type-Options"] == "nosniff"

    [added] = [e for e in api.events(case["id"]) if e["type"] == "attachment_added"]
    assert added["actor"] == "li.na"
    assert added["detail"]["attachment_id"] == body["id"] and added["detail"]["sha256"] == body["sha256"]
    # On disk at its content address, whole.
    assert engine.files.path_of(body["sha256"]).read_bytes() == content


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_content_that_is_not_evidence_is_415_whatever_it_is_called(api, engine, kind):
    content, name = REFUSED[kind]
    case = api.start()
    response = upload(api, case["id"], content, name=name)
    assert response.status_code == 415, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/unsupported-media-type"
    assert listed(api, case["id"]) == []
    assert "attachment_added" not in api.event_types(case["id"])
    assert stored_files(engine) == []


def test_a_file_of_exactly_20_mib_is_taken_and_one_byte_more_is_413(api, engine):
    case = api.start()
    png = image_bytes("PNG")
    exactly = png + b"\x00" * (MAX_BYTES - len(png))
    assert len(exactly) == 20 * MIB
    accepted = upload(api, case["id"], exactly, name="big.png")
    assert accepted.status_code == 201, accepted.get_json()
    assert accepted.get_json()["size"] == 20 * MIB
    assert engine.files.path_of(accepted.get_json()["sha256"]).stat().st_size == 20 * MIB

    refused = upload(api, case["id"], exactly + b"\x00", name="bigger.png")
    assert refused.status_code == 413, refused.get_json()
    assert refused.mimetype == "application/problem+json"
    assert len(listed(api, case["id"])) == 1
    assert len(stored_files(engine)) == 1


class UnreadableBody(io.RawIOBase):
    """A request body that must not be read: reading it fails the test."""

    read_from = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0  # the test client measures the body; the claimed length is set separately

    def tell(self) -> int:
        return 0

    def readinto(self, buffer) -> int:
        UnreadableBody.read_from = True
        raise AssertionError("the service read the body of an upload it should have refused")


def test_an_oversized_upload_is_refused_before_its_body_is_read(api, engine):
    case = api.start()
    body = UnreadableBody()
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/attachments",
        input_stream=body,
        headers={**auth("li.na"), "Content-Type": "multipart/form-data; boundary=x"},
        environ_overrides={"CONTENT_LENGTH": str(200 * MIB)},
    )
    assert response.status_code == 413
    assert UnreadableBody.read_from is False
    # Someone who may not add evidence is refused before the body is read too.
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/attachments",
        input_stream=UnreadableBody(),
        headers={**auth("chen.jie"), "Content-Type": "multipart/form-data; boundary=x"},
        environ_overrides={"CONTENT_LENGTH": "1000"},
    )
    assert response.status_code == 403
    assert UnreadableBody.read_from is False
    assert listed(api, case["id"]) == []


@pytest.mark.parametrize(
    ("form", "error_field"),
    [
        ({}, "file"),
        ({"file": (b"", "empty.png")}, "file"),
        ({"file": (b"x", "a.png"), "description": "长" * 2001}, "description"),
    ],
    ids=["no-file", "empty-file", "description-too-long"],
)
def test_a_bad_upload_form_is_422_and_stores_nothing(api, engine, form, error_field):
    case = api.start()
    # A fresh stream per run: the test client closes the one it sends.
    data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in form.items()}
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/attachments",
        data=data,
        headers=auth("li.na"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.get_json()
    assert error_field in response.get_json()["errors"]
    assert listed(api, case["id"]) == [] and stored_files(engine) == []


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/秘密/检测报告.pdf", "检测报告.pdf"),
        ("bad\x07na\x1bme\x7f.pdf", "badname.pdf"),
        ("", "attachment.pdf"),
        ("..", "attachment.pdf"),
        ("a" * 300 + ".pdf", "a" * 255),
    ],
    ids=["folders", "control-characters", "empty", "dots", "too-long"],
)
def test_the_stored_name_never_carries_folders_or_control_characters(api, name, stored):
    case = api.start()
    response = upload(api, case["id"], image_bytes("PDF"), name=name)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["filename"] == stored


@pytest.mark.parametrize(
    "form",
    [{"description": "证据\x00"}, {"task_id": "x\x00y"}, {"task_id": "t" * 37}],
    ids=["nul-in-description", "nul-in-task-id", "long-task-id"],
)
def test_hostile_form_fields_are_422_on_both_databases(api, engine, form):
    case = api.start()
    response = upload(api, case["id"], image_bytes("PNG"), **form)
    assert response.status_code == 422, response.get_json()
    assert listed(api, case["id"]) == [] and stored_files(engine) == []


def test_json_instead_of_a_file_is_422(api):
    case = api.start()
    response = api.post(f"/api/v1/cases/{case['id']}/attachments", "li.na", json={"file": "aGVsbG8="})
    assert response.status_code == 422
    assert "file" in response.get_json()["errors"]


def test_unknown_case_and_attachment_are_404(api):
    case = api.start()
    assert api.get(f"/api/v1/cases/{case['id']}/attachments", "sun.li").get_json()["items"] == []
    assert upload(api, "no-such-case", image_bytes("PNG")).status_code == 404
    assert api.get("/api/v1/cases/no-such-case/attachments", "sun.li").status_code == 404
    assert api.get("/api/v1/attachments/no-such-attachment", "sun.li").status_code == 404


# ---- who
# The case is started by li.na (agents): its open task is hers, in the agents' lane.
WHO_MAY = {
    "li.na": True,  # the first-contact owner
    "wu.fang": False,  # agents, but the case's only task is li.na's
    "sun.li": True,  # supervisors
    "admin": True,
    "wang.qiang": False,  # technicians: no task of theirs on it (yet)
    "zhao.min": False,
    "chen.jie": False,
    "liu.yang": False,
    "zhou.hao": False,
    "callcentre": False,  # an integration that did not start it
}


@pytest.mark.parametrize("user", sorted(WHO_MAY))
def test_who_may_upload_list_and_download(api, user):
    case = api.start(user="li.na")
    evidence = upload(api, case["id"], image_bytes("JPEG"), name="photo.jpg").get_json()
    allowed = WHO_MAY[user]
    expected = 201 if allowed else 403
    assert upload(api, case["id"], image_bytes("PNG"), user=user).status_code == expected
    assert api.get(f"/api/v1/cases/{case['id']}/attachments", user).status_code == (200 if allowed else 403)
    assert api.get(f"/api/v1/attachments/{evidence['id']}", user).status_code == (200 if allowed else 403)
    assert len(listed(api, case["id"])) == (2 if allowed else 1)


def test_a_technician_sees_the_evidence_once_the_case_has_their_task_and_the_starter_always(api):
    case = api.start(user="callcentre")
    evidence = upload(api, case["id"], image_bytes("PNG"), user="callcentre")
    assert evidence.status_code == 201
    attachment_id = evidence.get_json()["id"]
    assert api.get(f"/api/v1/attachments/{attachment_id}", "wang.qiang").status_code == 403
    case = register(api, case, user="li.na")  # the repair task for the technicians opens
    assert api.get(f"/api/v1/attachments/{attachment_id}", "wang.qiang").status_code == 200
    assert upload(api, case["id"], image_bytes("JPEG"), user="wang.qiang").status_code == 201
    case = repair(api, case)  # done: the technician worked it, and still sees its evidence
    assert api.get(f"/api/v1/attachments/{attachment_id}", "wang.qiang").status_code == 200


def test_approvers_see_the_evidence_of_the_application_they_are_to_decide(api):
    case = register(api, api.start(start_data(request="exchange")))
    invoice = upload(api, case["id"], image_bytes("PDF"), name="发票.pdf", user="li.na").get_json()
    assert api.get(f"/api/v1/attachments/{invoice['id']}", "chen.jie").status_code == 403
    case = apply(api, case)  # the after-sales lead files the application: the sign-off opens
    assert api.get(f"/api/v1/attachments/{invoice['id']}", "zhao.min").status_code == 200
    assert api.get(f"/api/v1/attachments/{invoice['id']}", "chen.jie").status_code == 200
    assert [a["filename"] for a in listed(api, case["id"], "chen.jie")] == ["发票.pdf"]


def test_the_approvers_inbox_lists_the_evidence_of_each_application(api):
    """`GET /api/v1/approvals`: the sign-off's application summary names the case's files, oldest first."""
    case = register(api, api.start(start_data(request="exchange")))
    photo = upload(api, case["id"], image_bytes("PNG"), name="电池鼓包.png", description="客户照片")
    assert photo.status_code == 201, photo.get_json()
    case = apply(api, case)  # the after-sales lead files the application: the sign-off opens
    report = upload(api, case["id"], image_bytes("PDF"), name="检测报告.pdf", user="zhao.min").get_json()
    [item] = api.get("/api/v1/approvals", "chen.jie").get_json()["items"]
    assert item["application"]["case_id"] == case["id"]
    evidence = item["application"]["attachments"]
    assert [(a["filename"], a["content_type"], a["uploaded_by"]) for a in evidence] == [
        ("电池鼓包.png", "image/png", "li.na"),
        ("检测报告.pdf", "application/pdf", "zhao.min"),
    ]
    assert evidence[0] == photo.get_json() and evidence[1]["id"] == report["id"]
    assert evidence[0]["description"] == "客户照片" and evidence[0]["sha256"] == photo.get_json()["sha256"]
    # Another case's evidence is never listed with this one.
    other = register(api, api.start(start_data(request="exchange", customer={"id": "C-OTHER"})))
    assert upload(api, other["id"], image_bytes("JPEG"), name="other.jpg").status_code == 201
    assert [
        a["filename"]
        for a in api.get("/api/v1/approvals", "chen.jie").get_json()["items"][0]["application"]["attachments"]
    ] == ["电池鼓包.png", "检测报告.pdf"]


# A process a process owner might deploy: it keeps the vehicle's owner (车主) in a field `owner`,
# and has one task for the after-sales leads. Naming someone in a case's data is not working it.
VEHICLE_OWNER_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="definitions_vehicle_owner_probe" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="vehicle_owner_probe" name="Vehicle owner noted" isExecutable="true">
    <bpmn:laneSet id="probe_lanes"><bpmn:lane id="probe_lane_leads" name="after_sales_leads">
      <bpmn:flowNodeRef>probe_start</bpmn:flowNodeRef><bpmn:flowNodeRef>probe_note</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>probe_work</bpmn:flowNodeRef><bpmn:flowNodeRef>probe_end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="probe_start" name="Start"><bpmn:outgoing>probe_flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="probe_note" name="Note the vehicle owner"><bpmn:incoming>probe_flow_1</bpmn:incoming>
      <bpmn:outgoing>probe_flow_2</bpmn:outgoing><bpmn:script>owner = "wu.fang"</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="probe_work" name="Work it"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="reply-to-customer.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>probe_flow_2</bpmn:incoming><bpmn:outgoing>probe_flow_3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="probe_end" name="Done"><bpmn:incoming>probe_flow_3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="probe_flow_1" sourceRef="probe_start" targetRef="probe_note" />
    <bpmn:sequenceFlow id="probe_flow_2" sourceRef="probe_note" targetRef="probe_work" />
    <bpmn:sequenceFlow id="probe_flow_3" sourceRef="probe_work" targetRef="probe_end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_the_case_and_its_evidence_follow_one_rule_of_who_works_the_case(api):
    """DOMAIN.md §8: who sees the case whole is who may see its evidence, by one rule.

    The owner is the first-contact owner (`first_contact_owner`, what a reassignment moves); a
    field that happens to be called `owner` names nobody who works the case.
    """
    deployed = api.post(
        "/api/v1/deployments", "zhou.hao",
        data={"file": (io.BytesIO(VEHICLE_OWNER_PROBE.encode()), "vehicle_owner_probe.bpmn")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert deployed.status_code == 201, deployed.get_json()
    data = start_data(customer={"name": "张三丰", "phone": "13800001234"})
    started = api.post("/api/v1/cases", "li.na", json={"process": "vehicle_owner_probe", "data": data})
    assert started.status_code == 201, started.get_json()
    case = started.get_json()
    assert case["data"]["owner"] == "wu.fang" and case["data"]["first_contact_owner"] == "li.na"
    assert upload(api, case["id"], image_bytes("PNG"), name="photo.png").status_code == 201
    for user, works in {
        "li.na": True,  # started it and owns it
        "zhao.min": True,  # the open task is offered to the after-sales leads
        "wu.fang": False,  # named in a field called `owner`, but no part of the work
        "wang.qiang": False,
    }.items():
        whole = "13800001234" in api.get(f"/api/v1/cases/{case['id']}", user).get_data(as_text=True)
        evidence = api.get(f"/api/v1/cases/{case['id']}/attachments", user).status_code
        assert (whole, evidence) == ((True, 200) if works else (False, 403)), user


def test_a_closed_case_takes_no_more_evidence(api):
    case = api.start()
    assert (
        api.post(f"/api/v1/cases/{case['id']}/cancel", "sun.li", json={"reason": "重复登记"}).status_code
        == 200
    )
    response = upload(api, case["id"], image_bytes("PNG"))
    assert response.status_code == 409
    assert listed(api, case["id"]) == []


# ---- on a task
def test_evidence_on_one_of_the_cases_tasks_and_never_on_another_cases(api, engine):
    case = register(api, api.start())
    repair_task = api.open_task(case, "diagnose_and_repair")
    response = upload(api, case["id"], image_bytes("JPEG"), user="wang.qiang", task_id=repair_task["id"])
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["task_id"] == repair_task["id"]
    [added] = [e for e in api.events(case["id"]) if e["type"] == "attachment_added"]
    assert added["task_id"] == repair_task["id"]

    other = api.start(start_data(customer={"id": "C-2002"}))
    for task_id in (other["tasks"][0]["id"], "no-such-task"):
        refused = upload(api, case["id"], image_bytes("PNG"), user="li.na", task_id=task_id)
        assert refused.status_code == 422, refused.get_json()
        assert "task_id" in refused.get_json()["errors"]
    assert len(listed(api, case["id"])) == 1


# ---- storage
def test_the_same_bytes_are_stored_once_however_often_and_wherever_they_are_attached(api, engine):
    content = image_bytes("PNG")
    first = api.start()
    second = api.start(start_data(customer={"id": "C-2002"}))
    bodies = [
        upload(api, first["id"], content, name="a.png").get_json(),
        upload(api, first["id"], content, name="b.png").get_json(),
        upload(api, second["id"], content, name="c.png").get_json(),
    ]
    assert len({b["id"] for b in bodies}) == 3
    assert {b["sha256"] for b in bodies} == {hashlib.sha256(content).hexdigest()}
    assert stored_files(engine) == [engine.files.path_of(bodies[0]["sha256"])]
    other = upload(api, first["id"], image_bytes("JPEG"), name="d.jpg").get_json()
    assert len(stored_files(engine)) == 2 and other["sha256"] != bodies[0]["sha256"]
    for body in bodies:
        assert api.get(f"/api/v1/attachments/{body['id']}", "li.na").data == content


def test_the_file_is_on_disk_before_the_row_that_names_it_is_committed(api, engine):
    """Watch every flush of an attachment row: its file must already be in the store, and a
    commit that fails afterwards leaves no row (the file stays, harmless, and is reused)."""
    case = api.start()
    seen: list[bool] = []
    fail = {"now": True}

    def check_and_maybe_fail(session, _context, _instances):
        for obj in session.new:
            if isinstance(obj, Attachment):
                seen.append(engine.files.exists(obj.sha256))
                if fail["now"]:
                    raise RuntimeError("the database went away at commit")

    content = image_bytes("JPEG")
    event.listen(Session, "before_flush", check_and_maybe_fail)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            engine.attachments.add(
                engine_actor(engine, "li.na"), case["id"], io.BytesIO(content), "photo.jpg"
            )
        assert seen == [True]
        assert attachment_rows(engine) == 0
        assert engine.files.path_of(hashlib.sha256(content).hexdigest()).read_bytes() == content
        fail["now"] = False
        response = upload(api, case["id"], content, name="photo.jpg")
        assert response.status_code == 201
        assert seen == [True, True]
    finally:
        event.remove(Session, "before_flush", check_and_maybe_fail)
    assert attachment_rows(engine) == 1
    assert len(stored_files(engine)) == 1
    with engine.db.unit_of_work(write=False) as uow:
        for row in uow.session.execute(select(Attachment)).scalars():
            assert engine.files.path_of(row.sha256).is_file()


def engine_actor(engine: Engine, username: str):
    return engine.ctx.directory.users[username]


def test_a_file_store_that_cannot_be_written_is_503_and_records_nothing(database_url, directory, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    broken = Engine(EngineConfig(database_url=database_url, files_dir=str(blocker)), directory)
    try:
        api = ServiceClient(create_app(broken, directory, {"TESTING": True}).test_client())
        case = api.start()
        response = upload(api, case["id"], image_bytes("PNG"))
        assert response.status_code == 503, response.get_json()
        assert response.mimetype == "application/problem+json"
        assert attachment_rows(broken) == 0
        with broken.db.unit_of_work(write=False) as uow:
            types = uow.session.execute(
                select(CaseEvent.type).where(CaseEvent.case_id == case["id"])
            ).scalars()
            assert "attachment_added" not in list(types)
    finally:
        broken.close()


def test_a_file_missing_from_the_store_is_503_not_500(api, engine):
    case = api.start()
    body = upload(api, case["id"], image_bytes("PNG")).get_json()
    engine.files.path_of(body["sha256"]).unlink()
    response = api.get(f"/api/v1/attachments/{body['id']}", "li.na")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"


def test_the_files_folder_defaults_to_beside_the_sqlite_file(tmp_path):
    config = EngineConfig.from_env({"COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"})
    assert config.resolved_files_dir() == tmp_path / "files"
    config = EngineConfig.from_env(
        {
            "COMPLAINTS_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
            "COMPLAINTS_FILES_DIR": str(tmp_path / "ev"),
        }
    )
    assert config.resolved_files_dir() == tmp_path / "ev"
