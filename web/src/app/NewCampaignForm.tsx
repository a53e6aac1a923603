import { useState, type FormEvent, type ReactNode } from 'react';
import { unwrap } from '../api/client';
import { toApiError, type ApiError } from '../api/errors';
import type { Campaign, CampaignCreate, PatternType } from '../api/types';
import { useApiClient } from '../hooks/context';
import { describeError } from './format';

/** The form's fields, as typed. */
export interface FormValues {
  name: string;
  description: string;
  patternType: PatternType;
  constant: string;
  charset: string;
  variableLength: string;
  tlds: string;
  maxDomains: string;
  resolvers: string;
  maxAttempts: string;
  keywords: string;
  ports: string;
  minLeadScore: string;
  autoStart: boolean;
}

export type FieldName = Exclude<keyof FormValues, 'autoStart'> | 'autoStart';

export const INITIAL_VALUES: FormValues = {
  name: '',
  description: '',
  patternType: 'prefix',
  constant: '',
  charset: 'abcdefghijklmnopqrstuvwxyz',
  variableLength: '3',
  tlds: '.com',
  maxDomains: '1000',
  resolvers: '',
  maxAttempts: '',
  keywords: '',
  ports: '80',
  minLeadScore: '',
  autoStart: false,
};

/** Which field each JSON pointer of the request body belongs to (longest prefix wins). */
const POINTER_FIELDS: Array<[string, FieldName]> = [
  ['/name', 'name'],
  ['/description', 'description'],
  ['/generation/pattern_type', 'patternType'],
  ['/generation/constant_string', 'constant'],
  ['/generation/character_set', 'charset'],
  ['/generation/variable_length', 'variableLength'],
  ['/generation/tlds', 'tlds'],
  ['/generation/max_domains', 'maxDomains'],
  ['/dns/resolvers', 'resolvers'],
  ['/dns/max_attempts', 'maxAttempts'],
  ['/http/keywords', 'keywords'],
  ['/http/ports', 'ports'],
  ['/analysis/min_lead_score', 'minLeadScore'],
  ['/auto_start', 'autoStart'],
];

/** The field a pointer names, or null for the form as a whole. */
export function fieldForPointer(pointer: string | undefined): FieldName | null {
  if (!pointer) return null;
  let best: [string, FieldName] | null = null;
  for (const entry of POINTER_FIELDS) {
    const [prefix] = entry;
    if ((pointer === prefix || pointer.startsWith(`${prefix}/`)) && (!best || prefix.length > best[0].length)) best = entry;
  }
  return best ? best[1] : null;
}

/** The server's field errors arranged by form field; the rest go to the form. */
export function fieldErrorsByField(error: ApiError): { fields: Partial<Record<FieldName, string[]>>; form: string[] } {
  const fields: Partial<Record<FieldName, string[]>> = {};
  const form: string[] = [];
  for (const e of error.errors) {
    const field = fieldForPointer(e.pointer);
    // "/generation/tlds/2" → "item 3: …"
    const item = e.pointer && field ? /\/(\d+)$/.exec(e.pointer.slice(POINTER_FIELDS.find(([, f]) => f === field)![0].length)) : null;
    const text = item ? `item ${Number(item[1]) + 1}: ${e.detail}` : e.detail;
    if (field) {
      const list = (fields[field] ??= []);
      if (!list.includes(text)) list.push(text);
    } else {
      const where = e.pointer || (e.parameter ? `parameter ${e.parameter}` : '');
      const line = where ? `${where}: ${e.detail}` : e.detail;
      if (!form.includes(line)) form.push(line);
    }
  }
  return { fields, form };
}

function list(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A whole number as a number; anything else as typed, so the server names the field. */
function numberOrRaw(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  return (/^-?\d+$/.test(t) ? Number(t) : t) as unknown as number;
}

/** The server's defaults, shown as placeholders: an empty field leaves the setting to the server. */
export const DEFAULT_MAX_ATTEMPTS = 6;
export const DEFAULT_MIN_LEAD_SCORE = 40;

/** Whole-number fields checked before sending: their range, as the server words it. */
const NUMBER_RANGES: Partial<Record<FieldName, { min: number; max: number }>> = {
  maxAttempts: { min: 1, max: 20 },
  minLeadScore: { min: 0, max: 100 },
};

/** What is wrong with the values, by field, before the server is asked (empty: nothing found). */
export function validateValues(v: FormValues): Partial<Record<FieldName, string[]>> {
  const errors: Partial<Record<FieldName, string[]>> = {};
  for (const [name, range] of Object.entries(NUMBER_RANGES) as Array<[FieldName, { min: number; max: number }]>) {
    const text = String(v[name]).trim();
    if (text === '') continue;
    if (!/^-?\d+$/.test(text)) errors[name] = [`must be a whole number from ${range.min} to ${range.max}`];
    else if (Number(text) < range.min) errors[name] = [`must be at least ${range.min}`];
    else if (Number(text) > range.max) errors[name] = [`must be at most ${range.max}`];
  }
  return errors;
}

/** The request body for the values: what the user typed, checked by the server. */
export function buildRequest(v: FormValues): CampaignCreate {
  const generation: Record<string, unknown> = {
    pattern_type: v.patternType,
    constant_string: v.constant.trim(),
    character_set: v.charset.trim(),
    tlds: list(v.tlds),
  };
  const variableLength = numberOrRaw(v.variableLength);
  if (variableLength !== undefined) generation.variable_length = variableLength;
  const maxDomains = numberOrRaw(v.maxDomains);
  if (maxDomains !== undefined) generation.max_domains = maxDomains;
  const dns: NonNullable<CampaignCreate['dns']> = { resolvers: list(v.resolvers) };
  const maxAttempts = numberOrRaw(v.maxAttempts);
  if (maxAttempts !== undefined) dns.max_attempts = maxAttempts;
  const body: CampaignCreate = {
    name: v.name.trim(),
    generation: generation as unknown as CampaignCreate['generation'],
    dns,
    http: { keywords: list(v.keywords) },
    auto_start: v.autoStart,
  };
  if (v.description.trim()) body.description = v.description.trim();
  const minLeadScore = numberOrRaw(v.minLeadScore);
  if (minLeadScore !== undefined) body.analysis = { min_lead_score: minLeadScore };
  const ports = list(v.ports).map((p) => numberOrRaw(p) as number);
  if (ports.length > 0) body.http = { ...body.http, ports };
  return body;
}

const FIELD_TEST_IDS: Record<FieldName, string> = {
  name: 'field-name',
  description: 'field-description',
  patternType: 'field-pattern-type',
  constant: 'field-constant',
  charset: 'field-charset',
  variableLength: 'field-variable-length',
  tlds: 'field-tlds',
  maxDomains: 'field-max-domains',
  resolvers: 'field-resolvers',
  maxAttempts: 'field-max-attempts',
  keywords: 'field-keywords',
  ports: 'field-ports',
  minLeadScore: 'field-min-lead-score',
  autoStart: 'field-auto-start',
};

export interface NewCampaignFormProps {
  onCreated: (campaign: Campaign) => void;
  onCancel?: () => void;
}

/** Creates a campaign; the server's field errors appear next to their fields. */
export function NewCampaignForm({ onCreated, onCancel }: NewCampaignFormProps) {
  const client = useApiClient();
  const [values, setValues] = useState<FormValues>(INITIAL_VALUES);
  const [busy, setBusy] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<FieldName, string[]>>>({});
  const [formError, setFormError] = useState<{ message: string; details: string[] } | null>(null);

  function set<K extends keyof FormValues>(key: K, value: FormValues[K]) {
    setValues((v) => ({ ...v, [key]: value }));
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const invalid = validateValues(values);
    if (Object.keys(invalid).length > 0) {
      setFieldErrors(invalid);
      setFormError({ message: 'Please correct the highlighted fields.', details: [] });
      return;
    }
    setBusy(true);
    setFieldErrors({});
    setFormError(null);
    try {
      const created = await unwrap(client.POST('/api/v1/campaigns', { body: buildRequest(values) }));
      onCreated(created);
    } catch (err) {
      const apiErr = toApiError(err);
      const { fields, form } = fieldErrorsByField(apiErr);
      setFieldErrors(fields);
      const hasFieldErrors = Object.keys(fields).length > 0;
      setFormError({
        message: hasFieldErrors ? 'Please correct the highlighted fields.' : describeError(apiErr),
        details: form,
      });
    } finally {
      setBusy(false);
    }
  }

  const field = (name: FieldName, label: string, control: (props: ControlProps) => ReactNode, hint?: string) => {
    const errs = fieldErrors[name];
    const id = `nc-${FIELD_TEST_IDS[name]}`;
    const describedBy = [hint ? `${id}-hint` : '', errs ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
    return (
      <div className={`field${errs ? ' field-invalid' : ''}`}>
        <label htmlFor={id}>{label}</label>
        {control({ id, 'data-testid': FIELD_TEST_IDS[name], 'aria-invalid': errs ? true : undefined, 'aria-describedby': describedBy })}
        {hint && (
          <p className="hint" id={`${id}-hint`}>
            {hint}
          </p>
        )}
        {errs && (
          <p className="field-error" id={`${id}-error`} data-testid={`error-${FIELD_TEST_IDS[name]}`} role="alert">
            {errs.join('; ')}
          </p>
        )}
      </div>
    );
  };

  return (
    <section aria-labelledby="new-title">
      <div className="section-head">
        <h1 id="new-title">New campaign</h1>
      </div>
      <form className="card form" onSubmit={(e) => void submit(e)} data-testid="new-campaign-form" noValidate>
        {formError && (
          <div className="banner banner-error" role="alert" data-testid="form-error">
            <div className="banner-text">
              <strong>{formError.message}</strong>
              {formError.details.length > 0 && (
                <ul>
                  {formError.details.map((d) => (
                    <li key={d}>{d}</li>
                  ))}
                </ul>
              )}
            </div>
          </div>
        )}
        <fieldset>
          <legend>Campaign</legend>
          {field('name', 'Name', (p) => <input {...p} type="text" value={values.name} onChange={(e) => set('name', e.target.value)} required />)}
          {field('description', 'Description', (p) => (
            <input {...p} type="text" value={values.description} onChange={(e) => set('description', e.target.value)} />
          ))}
        </fieldset>
        <fieldset>
          <legend>Generation</legend>
          <div className="grid-2">
            {field('patternType', 'Pattern type', (p) => (
              <select {...p} value={values.patternType} onChange={(e) => set('patternType', e.target.value as PatternType)}>
                <option value="prefix">prefix — [VAR][CONST][TLD]</option>
                <option value="suffix">suffix — [CONST][VAR][TLD]</option>
                <option value="both">both — [VAR][CONST][VAR][TLD]</option>
              </select>
            ))}
            {field('constant', 'Constant', (p) => <input {...p} type="text" value={values.constant} onChange={(e) => set('constant', e.target.value)} />, 'The fixed part of each name.')}
            {field('charset', 'Character set', (p) => <input {...p} type="text" value={values.charset} onChange={(e) => set('charset', e.target.value)} />, 'Characters of the variable part.')}
            {field('variableLength', 'Variable length', (p) => (
              <input {...p} type="number" inputMode="numeric" min={1} value={values.variableLength} onChange={(e) => set('variableLength', e.target.value)} />
            ))}
            {field('tlds', 'TLDs', (p) => <input {...p} type="text" value={values.tlds} onChange={(e) => set('tlds', e.target.value)} />, 'Separated by spaces or commas, each with a leading dot: .com .net')}
            {field('maxDomains', 'Max domains', (p) => (
              <input {...p} type="number" inputMode="numeric" min={1} value={values.maxDomains} onChange={(e) => set('maxDomains', e.target.value)} />
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Validation</legend>
          {field('resolvers', 'DNS resolvers', (p) => <input {...p} type="text" value={values.resolvers} onChange={(e) => set('resolvers', e.target.value)} />, 'host:port, separated by spaces or commas; empty: the system resolvers.')}
          <div className="grid-2">
            {field(
              'maxAttempts',
              'DNS tries per name',
              (p) => (
                <input
                  {...p}
                  type="number"
                  inputMode="numeric"
                  min={1}
                  max={20}
                  step={1}
                  placeholder={String(DEFAULT_MAX_ATTEMPTS)}
                  value={values.maxAttempts}
                  onChange={(e) => set('maxAttempts', e.target.value)}
                />
              ),
              `Tries of a name in all, over every pass: 1–20, more than the retries of one pass. Empty: ${DEFAULT_MAX_ATTEMPTS}.`,
            )}
            {field('ports', 'HTTP ports', (p) => <input {...p} type="text" value={values.ports} onChange={(e) => set('ports', e.target.value)} />, 'For example: 80 8080')}
          </div>
          <div className="grid-2">
            {field('keywords', 'HTTP keywords', (p) => <input {...p} type="text" value={values.keywords} onChange={(e) => set('keywords', e.target.value)} />, 'Separated by spaces or commas.')}
            {field(
              'minLeadScore',
              'Min lead score',
              (p) => (
                <input
                  {...p}
                  type="number"
                  inputMode="numeric"
                  min={0}
                  max={100}
                  step={1}
                  placeholder={String(DEFAULT_MIN_LEAD_SCORE)}
                  value={values.minLeadScore}
                  onChange={(e) => set('minLeadScore', e.target.value)}
                />
              ),
              `0–100: a domain scoring this much is a lead (with a keyword found, when there are keywords). Empty: ${DEFAULT_MIN_LEAD_SCORE}.`,
            )}
          </div>
        </fieldset>
        <div className={`field field-check${fieldErrors.autoStart ? ' field-invalid' : ''}`}>
          <input
            id="nc-auto-start"
            type="checkbox"
            checked={values.autoStart}
            onChange={(e) => set('autoStart', e.target.checked)}
            data-testid="field-auto-start"
          />
          <label htmlFor="nc-auto-start">Start as soon as it is created</label>
          {fieldErrors.autoStart && (
            <p className="field-error" data-testid="error-field-auto-start" role="alert">
              {fieldErrors.autoStart.join('; ')}
            </p>
          )}
        </div>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="new-campaign-submit">
            {busy ? 'Creating…' : 'Create campaign'}
          </button>
          {onCancel && (
            <button type="button" className="btn" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </section>
  );
}

interface ControlProps {
  id: string;
  'data-testid': string;
  'aria-invalid': true | undefined;
  'aria-describedby': string | undefined;
}
