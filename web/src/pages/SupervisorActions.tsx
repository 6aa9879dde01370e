/** A supervisor's acts on one case: reassign it (with a reason), cancel it, retry it after an error. */
import { useState, type FormEvent } from "react";
import { ApiError, api, messageOf, type Case } from "../api";

export default function SupervisorActions({ theCase, onDone }: { theCase: Case; onDone: () => void }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [errors, setErrors] = useState<{ form: string; fields: Record<string, string[]> }>();
  const running = theCase.status === "running" || theCase.status === "error";
  const send = async (path: string, json?: unknown, done = "已完成 Done") => {
    setMessage(undefined);
    setErrors(undefined);
    try {
      await api(`/cases/${theCase.id}/${path}`, { method: "POST", json: json ?? {} });
      setMessage({ ok: true, text: done });
      onDone();
    } catch (e) {
      setMessage({ ok: false, text: messageOf(e) });
      const fields = e instanceof ApiError && e.problem.errors && !Array.isArray(e.problem.errors) ? e.problem.errors : {};
      setErrors({ form: path, fields });
    }
  };
  const at = (form: string, name: string) =>
    errors?.form === form &&
    errors.fields[name]?.map((m) => (
      <span key={m} className="field-error">
        {m}
      </span>
    ));
  const reassign = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const to = String(f.get("to") || "").trim();
    const reason = String(f.get("reason") || "").trim();
    if (!to || !reason) return setMessage({ ok: false, text: "请填写接手人和原因 Give the new owner and a reason" });
    send("reassign", { to, reason }, `已转派给 ${to} Reassigned`);
  };
  const cancel = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const reason = String(new FormData(e.currentTarget).get("reason") || "").trim();
    if (!reason) return setMessage({ ok: false, text: "请填写取消原因 Give a reason to cancel" });
    if (window.confirm("确定取消此案件？ Cancel this case?")) send("cancel", { reason }, "已取消 Cancelled");
  };
  if (!running) return null;
  return (
    <div className="card supervise">
      <h2>督办 Supervision</h2>
      {message && (
        <p className={message.ok ? "ok" : "error"} role="alert">
          {message.text}
        </p>
      )}
      <form onSubmit={reassign} className="inline">
        <label>
          <input name="to" placeholder="接手人用户名 New owner (username)" aria-label="接手人 New owner" />
          {at("reassign", "to")}
        </label>
        <label>
          <input name="reason" placeholder="原因 Reason" aria-label="转派原因 Reason" />
          {at("reassign", "reason")}
        </label>
        <button type="submit">转派 Reassign</button>
      </form>
      <form onSubmit={cancel} className="inline">
        <label>
          <input name="reason" placeholder="取消原因 Reason" aria-label="取消原因 Cancel reason" />
          {at("cancel", "reason")}
        </label>
        <button type="submit" className="danger">
          取消案件 Cancel case
        </button>
      </form>
      {theCase.status === "error" && <button onClick={() => send("retry", {}, "已重试 Retried")}>重试 Retry</button>}
    </div>
  );
}
