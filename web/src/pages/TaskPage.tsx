/** One task: claim it, fill its form (rendered from the task's schema), complete it; server errors show at the field. */
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, api, messageOf, type Case, type Task } from "../api";
import SchemaForm from "../components/SchemaForm";
import { useMe } from "../layout";
import { Countdown, PriorityTag, Status, useLoad, useNow } from "../ui";

/** The task's own documentation in the BPMN the case runs (process owners write it, not code). */
async function loadGuidance(caseId: string, elementId: string): Promise<string | undefined> {
  const { diagrams } = await api<{ diagrams: { bpmn: string }[] }>(`/cases/${caseId}/diagram`);
  for (const { bpmn } of diagrams) {
    const doc = new DOMParser().parseFromString(bpmn, "application/xml");
    const element = Array.from(doc.getElementsByTagNameNS("*", "userTask")).find((e) => e.getAttribute("id") === elementId);
    const text = Array.from(element?.children || []).find((e) => e.localName === "documentation")?.textContent?.trim();
    if (text) return text;
  }
  return undefined;
}

export default function TaskPage() {
  const { taskId } = useParams();
  const me = useMe();
  const now = useNow();
  const navigate = useNavigate();
  const task = useLoad(() => api<Task>(`/tasks/${taskId}`), [taskId]);
  const caseId = task.data?.case_id;
  const theCase = useLoad(() => (caseId ? api<Case>(`/cases/${caseId}`) : Promise.resolve(undefined)), [caseId]);
  const guidance = useLoad(
    () => (caseId && task.data ? loadGuidance(caseId, task.data.element_id) : Promise.resolve(undefined)),
    [caseId, task.data?.element_id],
  );
  const [formData, setFormData] = useState<unknown>(undefined);
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>();
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);

  if (!task.data) return <Status loading={task.loading} error={task.error} />;
  const t = task.data;
  const c = theCase.data;
  const mine = t.assignee === me.username;
  const open = t.status === "open";
  const wording = (t.data?.wording || c?.data?.wording || guidance.data) as Record<string, string> | string | undefined;

  const act = async (what: "claim" | "unclaim") => {
    setBusy(true);
    setMessage("");
    try {
      await api(`/tasks/${t.id}/${what}`, { method: "POST" });
      task.reload();
    } catch (e) {
      setMessage(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  const complete = async (data: unknown) => {
    setBusy(true);
    setMessage("");
    setServerErrors(undefined);
    try {
      await api(`/tasks/${t.id}/complete`, { method: "POST", json: { data } });
      navigate(`/cases/${t.case_id}`, { state: { flash: `已完成：${t.name}` } });
    } catch (e) {
      if (e instanceof ApiError && e.problem.errors && !Array.isArray(e.problem.errors)) setServerErrors(e.problem.errors);
      setMessage(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="task">
      <h1>{t.name}</h1>
      <p className="meta">
        {c ? (
          <Link to={`/cases/${c.id}`} className="key">
            {c.business_key}
          </Link>
        ) : (
          <Link to={`/cases/${t.case_id}`}>案件 Case</Link>
        )}{" "}
        <PriorityTag priority={c?.priority} /> {c?.data?.customer?.name} · {c?.data?.problem?.description}
      </p>
      <p className="meta">
        {open ? "待办 Open" : "已完成 Completed"} · 办理人 Assignee: {t.assignee || `（未领取）${t.candidate_group || ""}`} · 期限 Due:{" "}
        <Countdown due={t.due_at} now={now} />
      </p>
      {t.is_approval && open && (
        <p>
          <Link to={`/approvals/${t.id}`}>打开审批页 Open the sign-off screen</Link>
        </p>
      )}
      <div className="actions">
        {open && !t.assignee && (
          <button onClick={() => act("claim")} disabled={busy}>
            领取 Claim
          </button>
        )}
        {open && mine && (
          <button className="secondary" onClick={() => act("unclaim")} disabled={busy}>
            退回 Unclaim
          </button>
        )}
      </div>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
      <div className={wording ? "with-aside" : ""}>
        {t.form && (
          <SchemaForm
            schema={t.form.schema}
            uiSchema={t.form.ui_schema}
            formData={formData ?? t.data}
            onChange={setFormData}
            onSubmit={complete}
            serverErrors={serverErrors}
            disabled={!open || busy || (!mine && !!t.assignee)}
          >
            {open && (
              <button type="submit" disabled={busy || (!mine && !!t.assignee)}>
                提交 Complete
              </button>
            )}
          </SchemaForm>
        )}
        {wording && (
          <aside className="wording">
            <h2>办理说明与话术 Guidance and wording</h2>
            {typeof wording === "string" ? (
              <p>{wording}</p>
            ) : (
              <dl>
                {Object.entries(wording).map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{String(v)}</dd>
                  </div>
                ))}
              </dl>
            )}
          </aside>
        )}
      </div>
    </section>
  );
}
