// The `return` preference of RFC 7240's Prefer header, which POST /v1/events honours: `return=minimal`
// answers each event with what identifies it in the log (id, sourceAppId, seq, receivedAt, hash) instead
// of the whole event, so a client that keeps only the acknowledgement does not pay to receive its own
// payload back.
//
// RFC 7240: a request header with comma-separated preferences, `token [ "=" word ] *( ";" parameter )`;
// names are case-insensitive; of a preference given more than once only the first counts; a preference
// the server does not understand, or cannot parse, is ignored (a preference never makes a request fail).

/** The header that names the preferences an answer applied (RFC 7240 §3). */
export const PREFERENCE_APPLIED_HEADER = 'Preference-Applied';

/** What `return` the request prefers: 'minimal', 'representation', or null (absent, or a value not defined). */
export function preferredReturn(header: string | string[] | undefined): 'minimal' | 'representation' | null {
  if (header === undefined) return null;
  // Node joins repeated Prefer headers with ", ": the same list (RFC 9110 §5.3).
  const text = Array.isArray(header) ? header.join(',') : header;
  for (const preference of splitOutsideQuotes(text, ',')) {
    const head = splitOutsideQuotes(preference, ';')[0]!;
    const eq = head.indexOf('=');
    const name = (eq < 0 ? head : head.slice(0, eq)).trim().toLowerCase();
    if (name !== 'return') continue;
    // The first `return` decides, whatever its value.
    const value = eq < 0 ? '' : unquote(head.slice(eq + 1).trim());
    return value === 'minimal' || value === 'representation' ? value : null;
  }
  return null;
}

/** `text` split at each `sep` that is not inside a quoted string (where `\` escapes one character). */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** A word's value: a token as it is, a quoted string without its quotes and escapes. */
function unquote(word: string): string {
  if (word.length < 2 || word[0] !== '"' || word[word.length - 1] !== '"') return word;
  return word.slice(1, -1).replace(/\\(.)/g, '$1');
}
