/**
 * Recording a call with the customer on the case page (DOMAIN §4: the customer may call at any
 * stage). `POST /cases/{id}/contacts`; an inbound call gives the first-contact owner a call-back
 * task, so the case is reloaded after recording. The service's field errors show at their field.
 */
import { useState, type FormEvent } from "react";
import { ApiError, api, messageOf, type Case } from "../api";

const CHANNELS: [string, string][] = [
  ["phone", "电话 phone"],
  ["online", "网上 online"],
  ["on_site", "现场 on_site"],
  ["letter", "信函 letter"],
  ["sms", "短信 sms"],
];
const REASONS: [string, string][] = [
  ["", "（未选）—"],
  ["ask_progress", "询问进度 Asks about progress"],
  ["add_information", "补充情况 Adds information"],
  ["complain_again", "再次投诉 Complains again"],
  ["missed_call", "未接来电 Missed call"],
  ["other", "其他 Other"],
];

export default function RecordContact({ theCase, onDone }: { theCase: Case; onDone: () => void }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [busy, setBusy] = useState(false);
  if (theCase.status !== "running") return null;

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const note = String(f.get("note") || "").trim();
    setMessage(undefined);
    if (!note) return setErrors({ note: ["请填写通话内容 Write what was said"] });
    setErrors({});
    const direction = String(f.get("direction"));
    const body: Record<string, unknown> = {
      direction,
      channel: String(f.get("channel")),
      note,
      reached: f.get("reached") === "yes",
    };
    if (f.get("reason")) body.reason = String(f.get("reason"));
    setBusy(true);
    try {
      await api(`/cases/${theCase.id}/contacts`, { method: "POST", json: body });
      form.reset();
      setMessage({
        ok: true,
        text: direction === "inbound" ? "已记录来电，已为负责人生成回电任务 Call recorded; the owner has a call-back task" : "已记录 Call recorded",
      });
      onDone();
    } catch (err) {
      if (err instanceof ApiError && err.problem.errors && !Array.isArray(err.problem.errors)) setErrors(err.problem.errors);
      setMessage({ ok: false, text: messageOf(err) });
    } finally {
      setBusy(false);
    }
  };
  const at = (name: string) =>
    errors[name]?.map((m) => (
      <span key={m} className="field-error" role="alert">
        {m}
      </span>
    ));

  return (
    <details className="card contact" data-testid="record-contact">
      <summary>
        <h2>记录来电 / 去电 Record a call</h2>
      </summary>
      <form onSubmit={submit} noValidate className="stack">
        <fieldset className="choices">
          <legend>方向 Direction</legend>
          <label>
            <input type="radio" name="direction" value="inbound" defaultChecked /> 客户来电 Inbound
          </label>
          <label>
            <input type="radio" name="direction" value="outbound" /> 我方去电 Outbound
          </label>
          {at("direction")}
        </fieldset>
        <fieldset className="choices">
          <legend>是否接通 Reached</legend>
          <label>
            <input type="radio" name="reached" value="yes" defaultChecked /> 已接通 Reached
          </label>
          <label>
            <input type="radio" name="reached" value="no" /> 未接通 Not reached
          </label>
          {at("reached")}
        </fieldset>
        <label>
          渠道 Channel
          <select name="channel" defaultValue="phone">
            {CHANNELS.map(([v, t]) => (
              <option key={v} value={v}>
                {t}
              </option>
            ))}
          </select>
          {at("channel")}
        </label>
        <label>
          原因 Reason
          <select name="reason" defaultValue="">
            {REASONS.map(([v, t]) => (
              <option key={v} value={v}>
                {t}
              </option>
            ))}
          </select>
          {at("reason")}
        </label>
        <label>
          通话内容 Note
          <textarea name="note" rows={3} />
          {at("note")}
        </label>
        {message && (
          <p className={message.ok ? "ok" : "error"} role="status">
            {message.text}
          </p>
        )}
        <button type="submit" disabled={busy}>
          记录 Record
        </button>
      </form>
    </details>
  );
}
