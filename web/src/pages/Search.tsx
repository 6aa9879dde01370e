/** Case search: business key, customer id/name/phone, serial or text (the server's `?q=`). */
import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, type Case, type Page } from "../api";
import { Countdown, PriorityTag, STATUS, Status, label, stepDue, stepName, useLoad, useNow } from "../ui";

export default function Search() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") || "";
  const [text, setText] = useState(q);
  const now = useNow();
  const { data, error, loading } = useLoad(
    () => (q ? api<Page<Case>>(`/cases?q=${encodeURIComponent(q)}&per_page=50`) : Promise.resolve(null)),
    [q],
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };
  return (
    <section>
      <h1>查询投诉 Search cases</h1>
      <form onSubmit={submit} className="search">
        <input
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="编号、客户、电话、序列号、问题 Key, customer, phone, serial, text"
          aria-label="查询 Search"
        />
        <button type="submit">查询 Search</button>
      </form>
      {q && <Status loading={loading} error={error} />}
      {data && <p className="muted">共 {data.total} 条 {data.total} found</p>}
      <ul className="rows">
        {data?.items.map((c) => (
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
              <span className="customer">{c.customer_name || c.data?.customer?.name || "—"}</span>
              <span className="problem">{c.problem || c.data?.problem?.description || ""}</span>
            </div>
            {stepName(c.current_step) && <div className="row-foot">{stepName(c.current_step)}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}
