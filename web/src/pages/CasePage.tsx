/** Everything about one case: summary, customer and product, deadlines, recording a call, remedy outcomes, every round of handling, diagram, approvals, attachments, timeline. */
import { useState, type FormEvent } from "react";
import { Link, useLocation, useParams } from "react-router-dom";
import { api, messageOf, type Case, type Page } from "../api";
import BpmnView from "../components/BpmnView";
import { useMe } from "../layout";
import { Countdown, PriorityTag, REMEDY, STATUS, Status, URGENT_KIND, label, money, time, useLoad, useNow } from "../ui";
import RecordContact from "./RecordContact";
import Rounds, { RemedyOutcomes, outcomesOf } from "./Rounds";
import SupervisorActions from "./SupervisorActions";

type Event = { at: string; actor?: string; type: string; task_id?: string; detail?: unknown };
type Approval = {
  task_id: string;
  approver: string;
  decision: string;
  comment?: string;
  approved_amount?: number;
  at: string;
  level?: string | number;
  remedy?: string;
};
type Attachment = { id: string; filename: string; content_type?: string; size?: number; uploaded_by?: string; at?: string; description?: string };
type Diagram = { process: string; version: number; bpmn: string; completed: string[]; active: string[] };

const EVENT: Record<string, string> = {
  case_started: "立案 Case started",
  task_created: "生成任务 Task created",
  task_claimed: "领取 Claimed",
  task_unclaimed: "退回 Unclaimed",
  task_completed: "完成任务 Task completed",
  approval_recorded: "审批 Approval",
  timer_fired: "定时 Timer fired",
  sla_breached: "超时 Deadline breached",
  message_received: "收到消息 Message",
  case_completed: "结案 Case completed",
  case_cancelled: "取消 Cancelled",
  case_reassigned: "转派 Reassigned",
  contact_recorded: "来电/去电 Call recorded",
  case_reclassified: "重新定级 Reclassified",
  case_retried: "重试 Retried",
  attachment_added: "附件 Attachment added",
};

const LINK: Record<string, string> = {
  repeat_of: "重复投诉 repeat of",
  repeated_by: "被重复 repeated by",
  batch: "同批 batch",
  coordinates: "协调 coordinates",
  coordinated_by: "协调案件 coordinated by",
};

const DIRECTION: Record<string, string> = { inbound: "来电 inbound", outbound: "去电 outbound" };

function detailText(detail: unknown, type?: string): string {
  if (detail == null) return "";
  if (type === "contact_recorded" && typeof detail === "object") {
    const d = detail as Record<string, unknown>;
    return [label(DIRECTION, d.direction as string), d.reached === false ? "未接通 not reached" : "已接通 reached", d.note].filter(Boolean).join(" · ");
  }
  if (typeof detail === "string") return detail;
  if (typeof detail === "object") {
    const d = detail as Record<string, unknown>;
    const main = d.name ?? d.task_name ?? d.reason ?? d.timer ?? d.decision ?? d.note;
    if (main != null) return String(main);
    return Object.entries(d)
      .filter(([, v]) => v == null || typeof v !== "object")
      .map(([k, v]) => `${k}: ${v ?? "—"}`)
      .join(" · ");
  }
  return String(detail);
}

export default function CasePage() {
  const { caseId } = useParams();
  const me = useMe();
  const now = useNow();
  const flash = (useLocation().state as { flash?: string } | null)?.flash;
  const theCase = useLoad(() => api<Case>(`/cases/${caseId}`), [caseId]);
  const events = useLoad(() => api<Page<Event>>(`/cases/${caseId}/events?per_page=200`), [caseId]);
  const approvals = useLoad(() => api<Page<Approval>>(`/cases/${caseId}/approvals?per_page=200`), [caseId]);
  const attachments = useLoad(() => api<Page<Attachment> | Attachment[]>(`/cases/${caseId}/attachments`), [caseId]);
  const diagrams = useLoad(() => api<{ diagrams: Diagram[] }>(`/cases/${caseId}/diagram`), [caseId]);

  if (!theCase.data) return <Status loading={theCase.loading} error={theCase.error} />;
  const c = theCase.data;
  const d = c.data || {};
  const files = Array.isArray(attachments.data) ? attachments.data : attachments.data?.items || [];
  const reload = () => {
    theCase.reload();
    events.reload();
    approvals.reload();
    diagrams.reload();
  };
  return (
    <section className="case">
      {flash && <p className="ok">{flash}</p>}
      <h1>
        {c.business_key} <PriorityTag priority={c.priority} />
      </h1>
      <p className="meta">
        {label(STATUS, c.status)} · {c.process} v{c.version} · 立案 {time(c.created_at)}
      </p>
      {!!d.urgent_kinds?.length && (
        <p className="kinds">
          {d.urgent_kinds.map((k) => (
            <span key={k} className="tag urgent">
              {label(URGENT_KIND, k)}
            </span>
          ))}
        </p>
      )}
      {!!c.links?.length && (
        <p className="meta">
          关联案件 Related:{" "}
          {c.links.map((l) => (
            <Link key={l.case_id + l.kind} to={`/cases/${l.case_id}`} className="file">
              {l.business_key} ({LINK[l.kind] || l.kind})
            </Link>
          ))}
        </p>
      )}
      <div className="grid">
        <div className="card">
          <h2>客户 Customer</h2>
          <dl>
            <dt>姓名 Name</dt>
            <dd>{d.customer?.name || "—"}</dd>
            <dt>编号 ID</dt>
            <dd>{d.customer?.id || "—"}</dd>
            <dt>电话 Phone</dt>
            <dd>{d.customer?.phone || "—"}</dd>
            <dt>等级 Tier</dt>
            <dd>{d.customer?.tier || "—"}</dd>
          </dl>
        </div>
        <div className="card">
          <h2>产品与问题 Product and problem</h2>
          <dl>
            <dt>型号 Model</dt>
            <dd>{d.product?.model || "—"}</dd>
            <dt>序列号 Serial</dt>
            <dd>{d.product?.serial || "—"}</dd>
            <dt>购买日期 Bought</dt>
            <dd>{d.product?.purchase_date || "—"}</dd>
            <dt>问题 Problem</dt>
            <dd>
              {d.problem?.issue_code} {d.problem?.description}
            </dd>
            {typeof d.amount_claimed === "number" && d.amount_claimed > 0 && (
              <>
                <dt>索赔 Claimed</dt>
                <dd>{money(d.amount_claimed)}</dd>
              </>
            )}
          </dl>
        </div>
        <div className="card">
          <h2>当前任务 Current tasks</h2>
          {!c.tasks?.length && <p className="muted">无 None</p>}
          <ul className="plain">
            {c.tasks?.map((t) => (
              <li key={t.id}>
                <Link to={`/tasks/${t.id}`}>{t.name}</Link> · {t.assignee || t.candidate_group} · <Countdown due={t.due_at} now={now} />
              </li>
            ))}
          </ul>
        </div>
        <div className="card">
          <h2>期限 Deadlines</h2>
          {!c.timers?.length && !c.escalations?.length && <p className="muted">无 None</p>}
          <ul className="plain" data-testid="deadlines">
            {c.timers?.map((timer) => (
              <li key={timer.name + timer.due_at}>
                {timer.name} · {time(timer.due_at)} · <Countdown due={timer.due_at} now={now} />
              </li>
            ))}
            {c.escalations?.map((e, i) => (
              <li key={i} className="overdue">
                升级 Escalation: {detailText(e.kind ?? e.name ?? e.reason ?? e)} {e.at ? time(String(e.at)) : ""}
              </li>
            ))}
          </ul>
        </div>
      </div>

      {me.groups.some((g) => g === "supervisors" || g === "admins") && <SupervisorActions theCase={c} onDone={reload} />}
      {me.groups.some((g) => g === "agents" || g === "supervisors" || g === "integrations") && <RecordContact theCase={c} onDone={reload} />}

      {outcomesOf(d.remedy_outcome).length > 0 && (
        <div className="card">
          <h2>处理方案结果 Remedy outcomes</h2>
          <RemedyOutcomes value={d.remedy_outcome} />
        </div>
      )}
      <Rounds data={d} running={c.status === "running" || c.status === "error"} />

      <h2>流程图 Diagram</h2>
      <Status loading={diagrams.loading} error={diagrams.error} />
      {diagrams.data?.diagrams.map((g) => (
        <div key={`${g.process}-${g.version}`} className="diagram-box">
          <h3>
            {g.process} v{g.version} <span className="legend done">已走过 Done</span> <span className="legend active">当前 Current</span>
          </h3>
          <BpmnView xml={g.bpmn} completed={g.completed} active={g.active} />
        </div>
      ))}

      <h2>审批 Approvals</h2>
      <Status loading={approvals.loading} error={approvals.error} />
      {approvals.data && approvals.data.items.length === 0 && <p className="muted">无 None</p>}
      <ul className="plain">
        {approvals.data?.items.map((a) => (
          <li key={a.task_id + a.at}>
            {time(a.at)} · {a.remedy && <strong>{label(REMEDY, a.remedy)}</strong>} {a.level ?? ""} · {a.approver} · <strong>{a.decision === "approve" ? "批准 Approved" : "驳回 Rejected"}</strong>{" "}
            {a.approved_amount != null && money(a.approved_amount)} {a.comment}
          </li>
        ))}
      </ul>

      <h2>附件 Attachments</h2>
      <Status error={attachments.error} />
      <ul className="plain">
        {files.map((f) => (
          <li key={f.id}>
            <a href={`/api/v1/attachments/${f.id}`}>{f.filename}</a> · {f.uploaded_by} · {time(f.at)} {f.description}
          </li>
        ))}
      </ul>
      <Upload caseId={c.id} onDone={attachments.reload} />

      <h2>时间线 Timeline</h2>
      <Status loading={events.loading} error={events.error} />
      <ol className="timeline">
        {events.data?.items.map((e, i) => (
          <li key={i}>
            <time>{time(e.at)}</time> <span className="actor">{e.actor}</span> {label(EVENT, e.type)} {detailText(e.detail, e.type)}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Upload({ caseId, onDone }: { caseId: string; onDone: () => void }) {
  const [message, setMessage] = useState("");
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const body = new FormData(form);
    if (!(body.get("file") as File | null)?.size) return setMessage("请选择文件 Choose a file");
    try {
      await api(`/cases/${caseId}/attachments`, { method: "POST", body });
      form.reset();
      setMessage("已上传 Uploaded");
      onDone();
    } catch (err) {
      setMessage(messageOf(err));
    }
  };
  return (
    <form onSubmit={submit} className="upload">
      <input type="file" name="file" aria-label="附件 File" />
      <input name="description" placeholder="说明 Description" />
      <button type="submit">上传 Upload</button>
      {message && <span role="status">{message}</span>}
    </form>
  );
}
