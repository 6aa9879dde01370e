/**
 * Every round of handling on the case page (issue 13 rule 10): a reopened case keeps each round's
 * own repair records, interim reply, reply, visit and remedy outcome (`data.rounds`), so the
 * history is shown round by round, Chinese first, with the acknowledgement attempts, the upgrades
 * and the repairs of the round still under way.
 */
import type { CaseData } from "../api";
import { REMEDY, label, money, time } from "../ui";

type Repair = {
  visit?: number;
  round?: number;
  at?: string;
  by?: string;
  fault_found?: string;
  parts_replaced?: string[];
  repaired?: boolean;
  external_cause?: boolean;
  charge_policy?: string;
  charge?: number;
};
export type RemedyOutcome = { remedy?: string; approved?: boolean; amount?: number; keep_battery?: boolean; reason?: string | null };
type Round = {
  round: number;
  started_at?: string;
  nature?: string;
  handling_path?: string;
  answer_summary?: string | null;
  technical_answer?: string | null;
  staff_action?: string | null;
  repairs?: Repair[];
  remedy_outcome?: RemedyOutcome[] | RemedyOutcome | null;
  interim_reply?: { text?: string; steps?: string[]; due?: string; at?: string } | null;
  reply?: { text?: string | null; at?: string | null } | null;
  visit?: { satisfied?: boolean | null; satisfaction?: number | null; note?: string | null } | null;
};
type Attempt = { at?: string; by?: string; outcome?: string; note?: string | null };
type Upgrade = { kind?: string; note?: string; at?: string };

const NATURE: Record<string, string> = { valid: "有效投诉 Valid", communicative: "沟通性 Communicative" };
const PATH: Record<string, string> = {
  quality: "质量维修 Quality repair",
  service: "服务调查 Service",
  major: "重大质量事故 Major incident",
  communicative: "沟通答复 Communicative",
  exchange_or_refund: "换退货 Exchange or refund",
};
const ATTEMPT: Record<string, string> = {
  no_answer: "无人接听 No answer",
  busy: "占线 Busy",
  switched_off: "关机 Switched off",
  wrong_number: "号码错误 Wrong number",
  other: "其他 Other",
};
const UPGRADE: Record<string, string> = { upgraded: "升级 Upgraded", leadership_attention: "领导关注 Leadership attention" };

/** `remedy_outcome` as a list: one entry per remedy (an older case may hold one object). */
export function outcomesOf(value: unknown): RemedyOutcome[] {
  if (Array.isArray(value)) return value.filter((o) => o && typeof o === "object") as RemedyOutcome[];
  if (value && typeof value === "object") return [value as RemedyOutcome];
  return [];
}

/** One remedy's decision on its own line: 换货 Exchange：批准 · 金额 · 原因. */
export function RemedyOutcomes({ value }: { value: unknown }) {
  const list = outcomesOf(value);
  if (!list.length) return null;
  return (
    <ul className="plain outcomes" data-testid="remedy-outcomes">
      {list.map((o, i) => (
        <li key={`${o.remedy}-${i}`} className={o.approved ? "approved" : "rejected"}>
          <strong>{label(REMEDY, o.remedy)}</strong>：{o.approved ? "批准 Approved" : "未批准 Not approved"}
          {!!o.amount && ` · ${money(o.amount)}`}
          {o.keep_battery && " · 保留电池 Battery kept"}
          {o.reason && ` · ${o.reason}`}
        </li>
      ))}
    </ul>
  );
}

function RepairLine({ r }: { r: Repair }) {
  return (
    <li>
      第{r.visit ?? "?"}次维修 Repair {r.visit ?? ""} · {time(r.at)} · {r.by || "—"} · {r.fault_found || "—"}
      {!!r.parts_replaced?.length && ` · 更换 ${r.parts_replaced.join("、")}`} · {r.repaired ? "已修好 Fixed" : r.external_cause ? "外部原因 External cause" : "未修好 Not fixed"}
      {r.charge_policy && ` · ${r.charge_policy === "free" ? "免费 Free" : `收费 Paid ${money(r.charge)}`}`}
    </li>
  );
}

function text(value: unknown): string {
  return value == null || value === "" ? "" : String(value);
}

export default function Rounds({ data, running }: { data: CaseData; running: boolean }) {
  const rounds = (Array.isArray(data.rounds) ? data.rounds : []) as Round[];
  const attempts = (Array.isArray(data.contact_attempts) ? data.contact_attempts : []) as Attempt[];
  const upgrades = (Array.isArray(data.upgrades) ? data.upgrades : []) as Upgrade[];
  const allRepairs = (Array.isArray(data.repairs) ? data.repairs : []) as Repair[];
  const done = new Set(rounds.map((r) => r.round));
  const current = running ? Number(data.round_number ?? rounds.length + 1) : NaN;
  const currentRepairs = allRepairs.filter((r) => r.round === current && !done.has(current));
  if (!rounds.length && !attempts.length && !upgrades.length && !currentRepairs.length) return null;
  return (
    <>
      <h2>处理经过 Handling history</h2>
      <div data-testid="rounds">
        {(attempts.length > 0 || upgrades.length > 0) && (
          <div className="card">
            {attempts.length > 0 && (
              <>
                <h3>未联系上的尝试 Attempts that did not reach the customer</h3>
                <ul className="plain">
                  {attempts.map((a, i) => (
                    <li key={i}>
                      {time(a.at)} · {a.by || "—"} · {label(ATTEMPT, a.outcome)} {text(a.note)}
                    </li>
                  ))}
                </ul>
              </>
            )}
            {upgrades.length > 0 && (
              <>
                <h3>升级 Upgrades</h3>
                <ul className="plain">
                  {upgrades.map((u, i) => (
                    <li key={i}>
                      {time(u.at)} · {label(UPGRADE, u.kind)} {text(u.note)}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        )}
        {rounds.map((r) => (
          <article key={r.round} className="card round" data-round={r.round}>
            <h3>
              第{r.round}轮 Round {r.round}
              <span className="muted"> · {time(r.started_at)} · {label(NATURE, r.nature)} · {label(PATH, r.handling_path)}</span>
            </h3>
            <dl>
              {!!r.repairs?.length && (
                <>
                  <dt>维修记录 Repairs</dt>
                  <dd>
                    <ul className="plain">
                      {r.repairs.map((rep, i) => (
                        <RepairLine key={i} r={rep} />
                      ))}
                    </ul>
                  </dd>
                </>
              )}
              {text(r.answer_summary) && (
                <>
                  <dt>解答 Answer</dt>
                  <dd>{text(r.answer_summary)}</dd>
                </>
              )}
              {text(r.technical_answer) && (
                <>
                  <dt>技术解答 Technical answer</dt>
                  <dd>{text(r.technical_answer)}</dd>
                </>
              )}
              {text(r.staff_action) && (
                <>
                  <dt>人员处理 Staff action</dt>
                  <dd>{text(r.staff_action)}</dd>
                </>
              )}
              {outcomesOf(r.remedy_outcome).length > 0 && (
                <>
                  <dt>处理方案结果 Remedies</dt>
                  <dd>
                    <RemedyOutcomes value={r.remedy_outcome} />
                  </dd>
                </>
              )}
              {r.interim_reply?.text && (
                <>
                  <dt>阶段性答复 Interim reply</dt>
                  <dd>
                    {r.interim_reply.text} · {time(r.interim_reply.at)}
                    {!!r.interim_reply.steps?.length && ` · 步骤 Steps: ${r.interim_reply.steps.join(" → ")}`}
                    {r.interim_reply.due && ` · 预计 By ${r.interim_reply.due}`}
                  </dd>
                </>
              )}
              <dt>答复 Reply</dt>
              <dd>{r.reply?.text ? `${r.reply.text} · ${time(r.reply.at)}` : "—"}</dd>
              <dt>回访 Visit</dt>
              <dd>
                {r.visit?.satisfied == null ? "—" : r.visit.satisfied ? "满意 Satisfied" : "不满意 Not satisfied"}
                {r.visit?.satisfaction != null && ` · ${r.visit.satisfaction}/5`} {text(r.visit?.note)}
              </dd>
            </dl>
          </article>
        ))}
        {currentRepairs.length > 0 && (
          <article className="card round" data-round={current}>
            <h3>
              第{current}轮 Round {current} <span className="muted">· 进行中 In progress</span>
            </h3>
            <ul className="plain">
              {currentRepairs.map((rep, i) => (
                <RepairLine key={i} r={rep} />
              ))}
            </ul>
          </article>
        )}
      </div>
    </>
  );
}
