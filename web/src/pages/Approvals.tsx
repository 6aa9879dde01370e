/**
 * Approvers' sign-off queue, and the sign-off screen with everything a decision needs: the
 * application, legal and policy remedies side by side, the verified amount, the earlier level's
 * decision, and the customer's earlier complaints and claims. An applicant sees their own
 * application but cannot decide it.
 */
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, api, messageOf, type Case, type Page, type Task } from "../api";
import { useMe } from "../layout";
import { Countdown, PriorityTag, REMEDY, STATUS, Status, label, money, time, useLoad, useNow } from "../ui";
import { RemedyOutcomes, outcomesOf } from "./Rounds";

type Claim = { case_id: string; business_key: string; decision: string; requested_amount?: number; approved_amount?: number; at: string };
type Application = {
  case_id: string;
  business_key: string;
  customer?: { name?: string; id?: string };
  applicant?: string;
  remedy?: string;
  requested_remedies?: string[];
  loss_amount?: number;
  amount_claimed?: number;
  legal_remedies?: string[];
  eligible_remedies?: string[];
  earlier_compensation_claims?: Claim[];
};
type PendingTask = Task & { application?: Application };
type Decision = {
  task_id: string;
  approver: string;
  decision: string;
  comment?: string;
  approved_amount?: number;
  at: string;
  level?: string | number;
  remedy?: string;
};

export function ApprovalQueue() {
  const now = useNow();
  const { data, error, loading } = useLoad(() => api<Page<PendingTask>>("/approvals?status=pending&per_page=200"), []);
  return (
    <section>
      <h1>待审批 Sign-off queue</h1>
      <Status loading={loading} error={error} />
      {data?.items.length === 0 && <p className="muted">没有待审批的申请 Nothing to sign off</p>}
      <ul className="rows" data-testid="approvals">
        {data?.items.map((t) => (
          <li key={t.id}>
            <div className="row-head">
              <Link to={`/approvals/${t.id}`} className="key">
                {t.application?.business_key || t.case_id.slice(0, 8)}
              </Link>
              <span>{label(REMEDY, t.application?.remedy)}</span>
              <span>{money(t.application?.loss_amount)}</span>
              <Countdown due={t.due_at} now={now} />
            </div>
            <div className="row-body">
              <span className="customer">{t.application?.customer?.name || "—"}</span>
              <span className="muted">申请人 Applicant: {t.application?.applicant || "—"}</span>
            </div>
            <div className="row-foot">
              <Link to={`/approvals/${t.id}`}>{t.name}</Link>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Remedies({ title, items, offered, requested = [] }: { title: string; items?: unknown; offered?: string; requested?: string[] }) {
  const list = Array.isArray(items) ? (items as string[]) : [];
  return (
    <div className="card">
      <h3>{title}</h3>
      {list.length === 0 && <p className="muted">无 None</p>}
      <ul className="plain">
        {list.map((r) => (
          <li key={r} className={r === offered ? "chosen" : ""}>
            {label(REMEDY, r)}
            {r === offered && " ✓ 本次审批 this sign-off"}
            {r !== offered && requested.includes(r) && " · 同一申请 also requested"}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Decisions recorded on the case, each naming the remedy it decided (one remedy, one line). */
function DecisionList({ items }: { items: Decision[] }) {
  return (
    <ul className="plain" data-testid="decisions">
      {items.map((a) => (
        <li key={a.task_id + a.at}>
          {a.remedy && <strong>{label(REMEDY, a.remedy)}</strong>} {a.level ?? ""} {a.approver}：{a.decision === "approve" ? "批准 Approved" : "驳回 Rejected"}{" "}
          {a.approved_amount != null && money(a.approved_amount)} {a.comment} · {time(a.at)}
        </li>
      ))}
    </ul>
  );
}

export function SignOff() {
  const { taskId } = useParams();
  const me = useMe();
  const now = useNow();
  const navigate = useNavigate();
  const task = useLoad(() => api<Task>(`/tasks/${taskId}`), [taskId]);
  const caseId = task.data?.case_id;
  const theCase = useLoad(() => (caseId ? api<Case>(`/cases/${caseId}`) : Promise.resolve(undefined)), [caseId]);
  const decisions = useLoad(
    () => (caseId ? api<Page<Decision>>(`/cases/${caseId}/approvals`) : Promise.resolve(undefined)),
    [caseId],
  );
  const pending = useLoad(() => api<Page<PendingTask>>("/approvals?status=pending&per_page=200"), []);
  const customerId = theCase.data?.data?.customer?.id;
  const earlier = useLoad(
    () => (customerId ? api<Page<Case>>(`/cases?customer_id=${encodeURIComponent(customerId)}&per_page=50`) : Promise.resolve(undefined)),
    [customerId],
  );
  const files = useLoad(
    () =>
      caseId
        ? api<{ items: { id: string; filename: string; description?: string }[] }>(`/cases/${caseId}/attachments`)
        : Promise.resolve(undefined),
    [caseId],
  );
  const [decision, setDecision] = useState<"approve" | "reject" | "">("");
  const [amount, setAmount] = useState("");
  const [comment, setComment] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  if (!task.data || !theCase.data) return <Status loading={task.loading || theCase.loading} error={task.error || theCase.error} />;
  const t = task.data;
  const c = theCase.data;
  const d = c.data || {};
  const application = pending.data?.items.find((p) => p.id === t.id)?.application;
  const applicant = application?.applicant || (d.applicant as string | undefined);
  // The remedy this sign-off decides: each remedy of one application is signed off on its own.
  const remedy = ((t.data?.remedy as string | undefined) || application?.remedy || (d.remedy as string | undefined)) ?? undefined;
  const requested = (application?.requested_remedies || d.requested_remedies || (remedy ? [remedy] : [])) as string[];
  const sameRemedy = (a: Decision) => !a.remedy || a.remedy === remedy;
  const allDecisions = decisions.data?.items || [];
  const thisRemedy = allDecisions.filter(sameRemedy);
  const otherRemedies = allDecisions.filter((a) => !sameRemedy(a));
  const own = applicant === me.username;
  const verified = d.verified_loss_amount as number | undefined;
  const claims = application?.earlier_compensation_claims || [];
  const others = (earlier.data?.items || []).filter((x) => x.id !== c.id);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found: Record<string, string[]> = {};
    if (!decision) found.decision = ["请选择批准或驳回 Choose approve or reject"];
    if (decision === "reject" && !comment.trim()) found.comment = ["驳回必须填写意见 A rejection needs a comment"];
    const value = amount.trim() === "" ? null : Number(amount);
    if (value !== null && (!Number.isFinite(value) || value < 0)) found.approved_amount = ["请输入不小于 0 的金额 Enter an amount of 0 or more"];
    setErrors(found);
    setMessage("");
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const body: Record<string, unknown> = { decision };
      if (comment.trim()) body.comment = comment.trim();
      if (value !== null) body.approved_amount = value;
      await api(`/approvals/${t.id}`, { method: "POST", json: body });
      navigate(`/cases/${c.id}`, { state: { flash: decision === "approve" ? "已批准 Approved" : "已驳回 Rejected" } });
    } catch (err) {
      if (err instanceof ApiError && err.problem.errors && !Array.isArray(err.problem.errors)) setErrors(err.problem.errors);
      setMessage(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) =>
    errors[name]?.map((m) => (
      <span key={m} className="field-error" role="alert">
        {m}
      </span>
    ));

  return (
    <section className="signoff">
      <h1>{t.name}</h1>
      <p className="meta">
        <Link to={`/cases/${c.id}`} className="key">
          {c.business_key}
        </Link>{" "}
        <PriorityTag priority={c.priority} /> {d.customer?.name} · {d.problem?.description} · 期限 Due: <Countdown due={t.due_at} now={now} />
      </p>
      <div className="grid">
        <div className="card">
          <h2>申请 Application</h2>
          <dl>
            <dt>申请人 Applicant</dt>
            <dd>{applicant || "—"}</dd>
            <dt>本次审批方案 Remedy to decide</dt>
            <dd data-testid="signoff-remedy">
              <strong>{label(REMEDY, remedy)}</strong>
            </dd>
            {requested.length > 1 && (
              <>
                <dt>同一申请的方案 Remedies in this application</dt>
                <dd>{requested.map((r) => label(REMEDY, r)).join("、")}（每项分别审批 each decided on its own）</dd>
              </>
            )}
            <dt>同一故障维修次数 Same-fault repairs</dt>
            <dd>{String(d.same_fault_repairs ?? "—")}</dd>
            <dt>累计维修天数 Repair days</dt>
            <dd>{String(d.cumulative_repair_days ?? "—")}</dd>
            <dt>损失金额 Loss</dt>
            <dd>{money(application?.loss_amount ?? d.loss_amount)}</dd>
            <dt>核实金额 Verified amount</dt>
            <dd data-testid="verified">{verified != null ? money(verified) : "未调查 Not investigated"}</dd>
            <dt>电池故障 Battery faulty</dt>
            <dd>{d.battery_faulty ? "是 Yes" : "否 No"}</dd>
            <dt>人身或财产损害 Injury or damage</dt>
            <dd>{d.injury_or_damage ? "是 Yes" : "否 No"}</dd>
            <dt>证据 Evidence</dt>
            <dd>{Array.isArray(d.evidence) ? d.evidence.join("、") : String(d.evidence ?? "—")}</dd>
            <dt>证据文件 Files</dt>
            <dd>
              {files.data?.items.length
                ? files.data.items.map((f) => (
                    <a key={f.id} href={`/api/v1/attachments/${f.id}`} className="file">
                      {f.filename}
                    </a>
                  ))
                : files.error || "—"}
            </dd>
            <dt>说明 Note</dt>
            <dd>{String(d.application_note ?? "—")}</dd>
          </dl>
        </div>
        <div className="card">
          <h2>调查 Investigation</h2>
          <p>{String(d.investigation_findings ?? "—")}</p>
          <h2>前一级审批 Earlier level ({label(REMEDY, remedy)})</h2>
          {thisRemedy.length ? <DecisionList items={thisRemedy} /> : <p className="muted">无 None</p>}
          {otherRemedies.length > 0 && (
            <>
              <h2>其他方案的审批 The other remedies' decisions</h2>
              <DecisionList items={otherRemedies} />
            </>
          )}
          {outcomesOf(d.remedy_outcome).length > 0 && (
            <>
              <h2>已有结果 Outcomes so far</h2>
              <RemedyOutcomes value={d.remedy_outcome} />
            </>
          )}
        </div>
      </div>
      <div className="grid two" data-testid="remedies">
        <Remedies title="法定三包 Legal (三包规定)" items={application?.legal_remedies ?? d.legal_remedies} offered={remedy} requested={requested} />
        <Remedies title="公司政策 Company policy" items={d.policy_remedies} offered={remedy} requested={requested} />
      </div>
      <div className="card">
        <h2>客户以往投诉与索赔 The customer's earlier complaints and claims</h2>
        {claims.length === 0 && others.length === 0 && <p className="muted">无 None</p>}
        <ul className="plain">
          {claims.map((x) => (
            <li key={x.case_id + x.at}>
              <Link to={`/cases/${x.case_id}`}>{x.business_key}</Link> · 索赔 {money(x.requested_amount)} → {x.decision === "approve" ? "批准" : "驳回"}{" "}
              {money(x.approved_amount)} · {time(x.at)}
            </li>
          ))}
          {others.map((x) => (
            <li key={x.id}>
              <Link to={`/cases/${x.id}`}>{x.business_key}</Link> · {label(STATUS, x.status)} · {time(x.created_at)}
            </li>
          ))}
        </ul>
      </div>
      {t.status !== "open" ? (
        <p className="muted">此审批已完成 This sign-off is done.</p>
      ) : own ? (
        <p className="error" role="alert" data-testid="own-application">
          这是您本人提交的申请，不能由您审批。This is your own application; another approver must decide it.
        </p>
      ) : (
        <form className="card decide" onSubmit={submit} noValidate>
          <h2>审批决定 Decision</h2>
          <fieldset>
            <label>
              <input type="radio" name="decision" checked={decision === "approve"} onChange={() => (setDecision("approve"), setErrors({}))} /> 批准 Approve
            </label>
            <label>
              <input type="radio" name="decision" checked={decision === "reject"} onChange={() => (setDecision("reject"), setErrors({}))} /> 驳回 Reject
            </label>
            {fieldError("decision")}
          </fieldset>
          <label>
            批准金额（元）Approved amount (CNY)
            <input inputMode="decimal" name="approved_amount" value={amount} onChange={(e) => (setAmount(e.target.value), setErrors({}))} placeholder={verified != null ? String(verified) : ""} />
            {fieldError("approved_amount")}
          </label>
          <label>
            意见（驳回必填）Comment (required to reject)
            <textarea name="comment" value={comment} onChange={(e) => (setComment(e.target.value), setErrors({}))} />
            {fieldError("comment")}
          </label>
          {message && (
            <p className="error" role="alert">
              {message}
            </p>
          )}
          <button type="submit" disabled={busy}>
            提交审批 Submit decision
          </button>
        </form>
      )}
    </section>
  );
}
