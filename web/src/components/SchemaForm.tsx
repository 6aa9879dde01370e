/**
 * A task or start form rendered from its JSON Schema + UI schema with react-jsonschema-form (as
 * spiff-arena does), validated in the browser with Chinese messages, and showing the server's
 * field errors (problem+json `errors`, dotted paths) at the field they belong to.
 */
import Form from "@rjsf/core";
import type { ErrorSchema, RJSFSchema, UiSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020";
import localizeZh from "ajv-i18n/localize/zh";
import type { ReactNode } from "react";

const validator = customizeValidator({ AjvClass: Ajv2020 as never }, localizeZh as never);

/** `{"customer.name": ["is required"]}` → rjsf's `{customer: {name: {__errors: [...]}}}`. */
export function toErrorSchema(errors: Record<string, string[]> | undefined): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const [path, messages] of Object.entries(errors || {})) {
    let node = root;
    const parts = path.replace(/^data\.?/, "").split(/[.[\]/]+/).filter(Boolean);
    for (const part of parts) node = (node[part] ||= {}) as Record<string, unknown>;
    node.__errors = [...((node.__errors as string[]) || []), ...(Array.isArray(messages) ? messages : [String(messages)])];
  }
  return root as ErrorSchema;
}

type Schema = {
  type?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  default?: unknown;
};

/** Chinese names for the code values the shipped forms use (the value itself stays beside it). */
const VALUE_NAMES: Record<string, string> = {
  phone: "电话",
  on_site: "现场",
  letter: "信函",
  online: "网上",
  hq: "集团总部",
  government: "政府",
  media: "媒体",
  consumer_association: "消费者协会",
  regulator: "12315",
  ordinary: "普通",
  vip: "VIP",
  important: "重要",
  sensitive: "敏感",
  product_quality: "产品质量",
  service_attitude: "服务态度",
  service_quality: "服务质量",
  sudden_incident: "突发事件",
  inquiry: "咨询",
  help: "求助",
  venting: "发泄",
  repair: "修理",
  exchange: "换货",
  refund: "退货",
  compensation: "赔偿",
  explanation: "解释",
  other: "其他",
  sms: "短信",
  approve: "批准",
  reject: "驳回",
};

/**
 * The workbench's reading of a form's UI schema, applied to every object and field:
 * - a required yes/no question without a default is asked as two radio buttons (是/否): an
 *   unticked checkbox cannot tell "no" from "not answered";
 * - a code value is shown with its Chinese name ("电话 phone") unless the form names it already;
 * - an object never offers to add fields of the person's own invention.
 */
export function workbenchUi(schema: Schema, ui: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...ui };
  if (schema.type === "object") out["ui:options"] = { expandable: false, ...(ui["ui:options"] as object) };
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const own = (ui[name] as Record<string, unknown>) || {};
    if (prop.type === "object") out[name] = workbenchUi(prop, own);
    else if (prop.type === "boolean" && schema.required?.includes(name) && prop.default === undefined && !own["ui:widget"])
      out[name] = { ...own, "ui:widget": "radio", "ui:enumNames": ["是 Yes", "否 No"] };
    else if (Array.isArray(prop.enum) && !own["ui:enumNames"])
      out[name] = { ...own, "ui:enumNames": prop.enum.map((v) => (VALUE_NAMES[String(v)] ? `${VALUE_NAMES[String(v)]} ${v}` : String(v))) };
  }
  return out;
}

export type Phrase = { moment?: string; title?: string; text?: string };

/**
 * A form's UI schema may carry the suggested wording for the moment (DOMAIN §1): `ui:description`
 * and `ui:options.suggested_wording` (process owners edit them in forms/*.uischema.json). They are
 * shown beside the form, so they are taken out of what rjsf renders.
 */
export function splitWording(ui: Record<string, unknown> | undefined): { ui: Record<string, unknown>; intro?: string; phrases: Phrase[] } {
  const { "ui:description": intro, "ui:options": options, ...rest } = ui || {};
  const { suggested_wording: wording, ...otherOptions } = (options && typeof options === "object" ? options : {}) as Record<string, unknown>;
  const cleaned: Record<string, unknown> = { ...rest };
  if (Object.keys(otherOptions).length) cleaned["ui:options"] = otherOptions;
  const phrases = Array.isArray(wording) ? (wording.filter((p) => p && typeof p === "object" && (p as Phrase).text) as Phrase[]) : [];
  return { ui: cleaned, intro: typeof intro === "string" && intro ? intro : undefined, phrases };
}

/**
 * The task's data without its `null` fields: a process sets a field to None to say "not answered
 * yet" (a reopened round clears `visit_note`), and a form that starts with `null` in a string
 * field would refuse itself ("应当是 string 类型") before the person has typed anything.
 */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, withoutNulls(v)]),
    );
  return value;
}

export default function SchemaForm(props: {
  schema: Record<string, unknown>;
  uiSchema?: Record<string, unknown>;
  formData: unknown;
  onChange: (data: unknown) => void;
  onSubmit: (data: unknown) => void;
  serverErrors?: Record<string, string[]>;
  disabled?: boolean;
  children?: ReactNode;
}) {
  const { $schema, ...schema } = props.schema;
  void $schema;
  // The wording is for the person, shown beside the form by the screen; rjsf gets only the layout.
  const { ui } = splitWording(props.uiSchema);
  if (props.uiSchema?.["ui:description"] !== undefined && !("ui:description" in ui)) ui["ui:description"] = props.uiSchema["ui:description"];
  return (
    <Form
      schema={schema as RJSFSchema}
      uiSchema={workbenchUi(schema as Schema, ui) as UiSchema}
      formData={withoutNulls(props.formData)}
      validator={validator}
      extraErrors={toErrorSchema(props.serverErrors)}
      showErrorList={false}
      noHtml5Validate
      omitExtraData
      disabled={props.disabled}
      onChange={(e) => props.onChange(e.formData)}
      onSubmit={(e) => props.onSubmit(e.formData)}
    >
      {props.children}
    </Form>
  );
}
