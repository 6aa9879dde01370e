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
      uiSchema={{ "ui:submitButtonOptions": { norender: true }, ...(props.uiSchema as UiSchema) }}
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
