/** Supervisors' view: escalations and breached deadlines first, then cases in error, then urgent running cases. */
import { Link } from "react-router-dom";
import { api, type Case, type Page } from "../api";
import { Countdown, PriorityTag, STATUS, Status, label, stepDue, stepName, useLoad, useNow } from "../ui";
import { useMe } from "../layout";
import { useInbox } from "./Inbox";

function overdueFirst(cases: Case[]): Case[] {
  const due = (c: Case) => {
    const at = c.due_at || stepDue(c.current_step);
    return at ? new Date(at).getTime() : Number.MAX_SAFE_INTEGER;
  };
  return [...cases].sort((a, b) => due(a) - due(b));
}

function CaseRows({ cases, now }: { cases: Case[]; now: number }) {
  return (
    <ul className="rows">
      {cases.map((c) => (
        <li key={c.id}>
          <div className="row-head">
            <Link to={`/cases/${c.id}`} className="key">
              {c.business_key}
            </Link>
            <PriorityTag priority={c.priority} />
            <span className="muted">{label(STATUS, c.status)}</span>
            {(c.due_at || stepDue(c.current_step)) && <Countdown due={c.due_at || stepDue(c.current_step)} now={now} />}
          </div>
          <div className="row-body">
            <span className="customer">{c.customer_name || c.customer_id || "—"}</span>
            <span className="problem">{stepName(c.current_step) || c.issue_code || ""}</span>
          </div>
        </li>
      ))}
    </ul>
  );
}

export default function Supervision() {
  const now = useNow();
  const me = useMe().username;
  const inbox = useInbox(me);
  // Escalation tasks (the supervisors' lane), mine, and any task past its due time; overdue first.
  const pressing = inbox.rows?.filter(
    (t) => t.candidate_group === "supervisors" || t.assignee === me || (t.due_at && new Date(t.due_at).getTime() < now),
  );
  const errors = useLoad(() => api<Page<Case>>("/cases?status=error&per_page=50"), []);
  const urgent = useLoad(() => api<Page<Case>>("/cases?status=running&priority=urgent&per_page=50"), []);
  return (
    <section>
      <h1>督办 Supervision</h1>
      <h2>升级与超时 Escalations and breached deadlines</h2>
      <Status loading={inbox.loading} error={inbox.error} />
      {pressing?.length === 0 && <p className="muted">无 None</p>}
      <ul className="rows">
        {pressing
          ?.slice()
          .sort((a, b) => (a.due_at ? Date.parse(a.due_at) : Infinity) - (b.due_at ? Date.parse(b.due_at) : Infinity))
          .map((t) => (
            <li key={t.id}>
              <div className="row-head">
                <Link to={`/cases/${t.case_id}`} className="key">
                  {t.business_key}
                </Link>
                <PriorityTag priority={t.priority} />
                <Countdown due={t.due_at} now={now} />
              </div>
              <div className="row-foot">
                <Link to={`/tasks/${t.id}`}>{t.name}</Link> · {t.customer_name}
              </div>
            </li>
          ))}
      </ul>
      <h2>出错的案件 Cases in error</h2>
      <Status loading={errors.loading} error={errors.error} />
      {errors.data?.items.length === 0 && <p className="muted">无 None</p>}
      {errors.data && <CaseRows cases={errors.data.items} now={now} />}
      <h2>紧急案件 Urgent cases</h2>
      <p className="muted">在案件页转派、取消或重试 Reassign, cancel or retry on the case page.</p>
      <Status loading={urgent.loading} error={urgent.error} />
      {urgent.data && <CaseRows cases={overdueFirst(urgent.data.items)} now={now} />}
    </section>
  );
}
