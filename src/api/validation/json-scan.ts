// One walk over a JSON text's tokens, with the path of each value, for the I-JSON rules (RFC 7493) that
// JSON.parse cannot be asked about once it has parsed: a number a double does not keep (exact-numbers.ts)
// and a member name an object holds twice (unique-names.ts). It reports the first token that breaks the
// rule it is given, with its field path (`[0].payload.amount`), or nothing: also when the text stops
// being JSON, which the parser reports.
import { fieldPath } from './issues.js';

const TOKEN = /\s*(?:("[^"\\]*(?:\\.[^"\\]*)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([{}[\]:,])|(true|false|null))/y;

type Frame = { array: true; index: number } | { array: false; key: string; expectKey: boolean; names: Set<string> | null };

/** What to look for: numbers `kept` refuses, or member names an object repeats (as decoded: `"a"` and `"\u0061"` are one name). */
export type ScanRule = { numbers: (token: string) => boolean } | { names: true };

/** The first token the rule refuses: a number token, or a repeated name with the path of its object. */
export type ScanFinding = { field: string; token: string } | { field: string; name: string };

export function scanJson(text: string, rule: ScanRule): ScanFinding | undefined {
  const kept = 'numbers' in rule ? rule.numbers : null;
  const stack: Frame[] = [];
  const path = () => fieldPath(stack.map((f) => (f.array ? f.index : f.key)));
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const m = TOKEN.exec(text);
    if (!m) return undefined;
    const top = stack.at(-1);
    if (m[1] !== undefined) {
      if (top && !top.array && top.expectKey) {
        // Decoded as JSON.parse does; a name without an escape is its text between the quotes.
        const name = m[1].includes('\\') ? (JSON.parse(m[1]) as string) : m[1].slice(1, -1);
        if (!kept) {
          if (top.names?.has(name)) return { field: objectPath(stack), name };
          (top.names ??= new Set()).add(name);
        }
        top.key = name;
      }
    } else if (m[2] !== undefined) {
      if (kept && !kept(m[2])) return { field: path(), token: m[2] };
    } else if (m[3] !== undefined) {
      const c = m[3];
      if (c === '{') stack.push({ array: false, key: '', expectKey: true, names: null });
      else if (c === '[') stack.push({ array: true, index: 0 });
      else if (c === '}' || c === ']') stack.pop();
      else if (c === ':' && top && !top.array) top.expectKey = false;
      else if (c === ',' && top) {
        if (top.array) top.index++;
        else top.expectKey = true;
      }
    } else if (m[4] === undefined) {
      // Only white space was left.
      return undefined;
    }
  }
  return undefined;
}

/** The path of the innermost frame's object: the keys and indexes of the frames that hold it (not its own key). */
const objectPath = (stack: readonly Frame[]) => fieldPath(stack.slice(0, -1).map((f) => (f.array ? f.index : f.key)));
