// Named aliases of the generated OpenAPI types (gen/ts/schema.d.ts, never edited by hand).
import type { components, paths } from '../../../gen/ts/schema';

export type { components, paths };

type Schemas = components['schemas'];

export type Campaign = Schemas['Campaign'];
export type WildcardZone = Schemas['WildcardZone'];
export type CampaignWarning = Schemas['CampaignWarning'];
export type CampaignCreate = Schemas['CampaignCreate'];
export type CampaignPage = Schemas['CampaignPage'];
export type CampaignStatus = Schemas['CampaignStatus'];
export type CampaignConfig = Schemas['CampaignConfig'];
export type GenerationConfig = Schemas['GenerationConfig'];
export type DNSConfig = Schemas['DNSConfig'];
export type HTTPConfig = Schemas['HTTPConfig'];
export type AnalysisConfig = Schemas['AnalysisConfig'];
export type PatternType = Schemas['PatternType'];
export type Phase = Schemas['Phase'];
export type Domain = Schemas['Domain'];
export type DomainPage = Schemas['DomainPage'];
export type DomainFilterStatus = Schemas['DomainFilterStatus'];
export type DomainFilterPhase = Schemas['DomainFilterPhase'];
export type DNSStatus = Schemas['DNSStatus'];
export type HTTPStatus = Schemas['HTTPStatus'];
export type LeadStatus = Schemas['LeadStatus'];
export type DNSResult = Schemas['DNSResult'];
export type MXRecord = Schemas['MXRecord'];
export type HTTPResult = Schemas['HTTPResult'];
export type ScorePart = Schemas['ScorePart'];
export type StatusSummary = Schemas['StatusSummary'];
export type PhaseCounts = Schemas['PhaseCounts'];
export type Progress = Schemas['Progress'];
export type ResolverList = Schemas['ResolverList'];
export type ResolverStats = Schemas['ResolverStats'];
export type BulkEnrichedRequest = Schemas['BulkEnrichedRequest'];
export type BulkEnrichedResponse = Schemas['BulkEnrichedResponse'];
export type EnrichedCampaign = Schemas['EnrichedCampaign'];
export type Proxy = Schemas['Proxy'];
export type Token = Schemas['Token'];
export type TokenCreate = Schemas['TokenCreate'];
export type TokenCreated = Schemas['TokenCreated'];
export type WebSocketTicket = Schemas['WebSocketTicket'];
export type Problem = Schemas['Problem'];
export type ProblemCode = Problem['code'];
export type FieldError = Schemas['FieldError'];

/** Statuses in which a campaign is doing work (and its data changes). */
export const ACTIVE_STATUSES: readonly CampaignStatus[] = ['queued', 'running'];
/** Statuses a campaign never leaves. */
export const ENDED_STATUSES: readonly CampaignStatus[] = ['completed', 'failed', 'cancelled'];

export function isActiveStatus(status: CampaignStatus | null | undefined): boolean {
  return status != null && ACTIVE_STATUSES.includes(status);
}

export function isEndedStatus(status: CampaignStatus | null | undefined): boolean {
  return status != null && ENDED_STATUSES.includes(status);
}
