/** One task: claim it, fill its form (rendered from the task's schema), complete it; server errors show at the field. */
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, api, messageOf, type Case, type Task } from "../api";
import SchemaForm, { splitWording } from "../components/SchemaForm";
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

const CONTACT_REASON: Record<string, string> = {
  ask_progress: "询问进度 Asks about progress",
  add_information: "补充情况 Adds information",
  complain_again: "再次投诉 Complains again",
  missed_call: "未接来电 Missed call",
  other: "其他 Other",
};

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
  const form = splitWording(t.form?.ui_schema);
  const contact = t.data?.contact as { note?: string; reason?: string; channel?: string; reached?: boolean; recorded_at?: string; recorded_by?: string } | undefined;
  const aside = !!wording || form.phrases.length > 0;

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
      {contact && typeof contact === "object" && (
        <div className="card" data-testid="contact">
          <h2>客户来电 The customer's call</h2>
          <p>
            {contact.recorded_at?.replace("T", " ").slice(0, 16)} · {contact.recorded_by} · {contact.reached === false ? "未接通 Missed" : "已接通 Reached"}
            {contact.reason && ` · ${CONTACT_REASON[contact.reason] || contact.reason}`}
          </p>
          <p>{contact.note}</p>
        </div>
      )}
      <div className={aside ? "with-aside" : ""}>
        {t.form && (
          <SchemaForm
            schema={t.form.schema}
            uiSchema={form.ui}
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
        {aside && (
          <aside className="wording">
            <h2>办理说明与话术 Guidance and wording</h2>
            {form.phrases.length > 0 && (
              <div data-testid="suggested-wording">
                <h3>建议话术 Suggested wording</h3>
                {form.intro && <p className="muted">{form.intro}</p>}
                <ul className="plain phrases">
                  {form.phrases.map((p, i) => (
                    <li key={`${p.moment}-${i}`} data-moment={p.moment}>
                      <strong>{p.title || p.moment}</strong>
                      <p>{p.text}</p>
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {!wording ? null : typeof wording === "string" ? (
              <p>{wording}</p>
            ) : (
              <ul className="plain phrases">
                {Object.entries(wording).map(([k, v]) => (
                  <li key={k}>
                    <strong>{k}</strong>
                    <p>{String(v)}</p>
                  </li>
                ))}
              </ul>
            )}
          </aside>
        )}
      </div>
    </section>
  );
}
