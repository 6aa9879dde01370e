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

type Schema = { type?: unknown; properties?: Record<string, Schema>; required?: string[]; default?: unknown };

/**
 * A required yes/no question without a default is asked as two radio buttons (是/否): an unticked
 * checkbox cannot tell "no" from "not answered", so the person answers it explicitly.
 */
export function explicitYesNo(schema: Schema, ui: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { ...ui };
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const own = (ui[name] as Record<string, unknown>) || {};
    if (prop.type === "object") out[name] = explicitYesNo(prop, own);
    else if (prop.type === "boolean" && schema.required?.includes(name) && prop.default === undefined && !own["ui:widget"])
      out[name] = { ...own, "ui:widget": "radio", "ui:enumNames": ["是 Yes", "否 No"], "ui:options": { inline: true } };
  }
  return out;
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
  return (
    <Form
      schema={schema as RJSFSchema}
      uiSchema={explicitYesNo(schema as Schema, props.uiSchema) as UiSchema}
      formData={props.formData}
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
