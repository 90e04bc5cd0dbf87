// eraseEvents' input: reason and exactly one selection (schema/erasure.graphql), as the log's ErasureSelection.
import type { ErasureSelection } from '../../log/service.js';
import type { JsonValue } from '../../storage/types.js';
import { badUserInput } from '../errors.js';
import { MAX_ERASED_PER_CALL } from '../../log/erasure.js';
import { parseEventFilter } from './query-args.js';
import { parseEventId, parseSourceAppId } from './query-args.js';

export const MAX_REASON_LENGTH = 256;
export const MAX_PATH_LENGTH = 256;

export interface EraseEventsInputArg {
  reason: string;
  ids?: readonly string[] | null;
  sourceAppId?: string | null;
  from?: Date | null;
  to?: Date | null;
  eventTypes?: readonly string[] | null;
  payloadField?: { path: string; equals: JsonValue } | null;
}

const PATH_PART = /^[^.]+$/;

export function parseEraseInput(input: EraseEventsInputArg): { selection: ErasureSelection; reason: string } {
  const reason = input.reason;
  if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > MAX_REASON_LENGTH)
    throw badUserInput('input.reason', 'length', `input.reason: must be 1-${MAX_REASON_LENGTH} characters, not blank`);
  const hasIds = input.ids != null;
  const hasApp = input.sourceAppId != null;
  const hasFilter = input.from != null || input.to != null || input.eventTypes != null;
  if (hasIds === hasApp)
    throw badUserInput(
      'input',
      'oneSelection',
      'input: give exactly one selection: ids, or sourceAppId (with from/to/eventTypes or payloadField)',
    );
  if (hasIds) {
    if (hasFilter || input.payloadField != null)
      throw badUserInput(
        'input.ids',
        'oneSelection',
        'input.ids: from, to, eventTypes and payloadField go with sourceAppId, not with ids',
      );
    const ids = input.ids!;
    if (ids.length < 1 || ids.length > MAX_ERASED_PER_CALL)
      throw badUserInput('input.ids', 'length', `input.ids: must hold 1-${MAX_ERASED_PER_CALL} ids`);
    return { reason, selection: { kind: 'ids', ids: ids.map((id, i) => parseEventId(id, `input.ids[${i}]`)) } };
  }
  const sourceAppId = parseSourceAppId(input.sourceAppId, 'input.sourceAppId');
  if (input.payloadField != null) {
    if (hasFilter)
      throw badUserInput('input.payloadField', 'oneSelection', 'input.payloadField: not with from, to or eventTypes');
    const { path, equals } = input.payloadField;
    const parts = typeof path === 'string' ? path.split('.') : [];
    if (typeof path !== 'string' || path.length < 1 || path.length > MAX_PATH_LENGTH || !parts.every((p) => PATH_PART.test(p)))
      throw badUserInput(
        'input.payloadField.path',
        'format',
        `input.payloadField.path: must be 1-${MAX_PATH_LENGTH} characters of member names joined by '.', none empty`,
      );
    if (equals === undefined)
      throw badUserInput('input.payloadField.equals', 'required', 'input.payloadField.equals: must be a JSON value');
    return { reason, selection: { kind: 'payloadField', sourceAppId, path: parts, equals } };
  }
  const filter = parseEventFilter({ from: input.from, to: input.to, eventTypes: input.eventTypes }, 'input');
  return { reason, selection: { kind: 'filter', sourceAppId, ...filter } };
}
