/**
 * A streaming CSV reader: RFC 4180 quoting ("" inside quotes, separators and
 * newlines inside quoted fields), CRLF, LF or CR, a BOM, UTF-8 or (when the
 * first chunk is not UTF-8) the Windows code page 1252, and the separator
 * detected from the header unless given. Yields records with the line
 * number they start on, holding at most one record in memory beyond the
 * current chunk.
 */
import type { Readable } from 'node:stream';

export interface CsvRecord {
  line: number;
  fields: string[];
}

const CANDIDATES = [',', ';', '\t', '|'];

/** The separator that occurs most often outside quotes in the header line. */
export function detectSeparator(headerLine: string): string {
  let best = ',';
  let bestCount = 0;
  for (const sep of CANDIDATES) {
    let count = 0;
    let quoted = false;
    for (const ch of headerLine) {
      if (ch === '"') quoted = !quoted;
      else if (ch === sep && !quoted) count++;
    }
    if (count > bestCount) {
      best = sep;
      bestCount = count;
    }
  }
  return best;
}

export async function* readCsv(input: Readable, separator?: string): AsyncGenerator<CsvRecord & { separator: string }> {
  let sep = separator;
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let afterQuote = false;
  let line = 1;
  let recordLine = 1;
  let pendingHeader = '';
  let first = true;
  let afterCR = false;
  let quotedCR = false;
  let decoder = new TextDecoder('utf-8', { fatal: true });

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else if (first && !validUtf8Start(chunk)) {
      // not UTF-8 from the start: an export in the Windows code page (Excel's `Temperatur °C`), as ml/train_anomaly.py reads it
      decoder = new TextDecoder('windows-1252');
      text = decoder.decode(chunk, { stream: true });
    } else {
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch {
        throw new Error(`line ${line + lineBreaks(validUtf8Prefix(chunk))}: the file began as UTF-8 and is not UTF-8 here; save it as UTF-8`);
      }
    }
    if (first) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    if (sep === undefined) {
      // wait for the whole header line before choosing the separator
      pendingHeader += text;
      const nl = pendingHeader.search(/[\r\n]/);
      if (nl < 0) continue;
      sep = detectSeparator(pendingHeader.slice(0, nl));
      text = pendingHeader;
      pendingHeader = '';
    }
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else if (i + 1 === text.length) {
            // a quote at the chunk's end: decide with the next chunk
            quoted = false;
            afterQuote = true;
          } else {
            quoted = false;
          }
        } else {
          // a line break inside the field: LF, CRLF or a lone CR counts one line
          if (ch === '\r' || (ch === '\n' && !quotedCR)) line++;
          quotedCR = ch === '\r';
          field += ch;
        }
        continue;
      }
      // the LF of a CRLF: the record ended at its CR
      const wasCR = afterCR;
      afterCR = false;
      if (ch === '\n' && wasCR) continue;
      if (afterQuote) {
        afterQuote = false;
        if (ch === '"') {
          field += '"';
          quoted = true;
          continue;
        }
      }
      if (ch === '"' && field === '') {
        quoted = true;
      } else if (ch === sep) {
        fields.push(field);
        field = '';
      } else if (ch === '\n' || ch === '\r') {
        // LF, CRLF or a lone CR (old Mac Excel) ends a record
        afterCR = ch === '\r';
        fields.push(field);
        yield { line: recordLine, fields, separator: sep };
        fields = [];
        field = '';
        line++;
        recordLine = line;
      } else {
        field += ch;
      }
    }
  }
  if (sep === undefined) {
    sep = detectSeparator(pendingHeader);
    // a file without a newline: parse what was collected
    yield* readCsvText(pendingHeader, sep);
    return;
  }
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    yield { line: recordLine, fields, separator: sep };
  }
}

/** The text of the longest start of a chunk that reads as UTF-8. */
function validUtf8Prefix(chunk: Buffer): string {
  let ok = 0;
  let bad = chunk.length;
  while (bad - ok > 1) {
    const mid = (ok + bad) >> 1;
    if (validUtf8Start(chunk.subarray(0, mid))) ok = mid;
    else bad = mid;
  }
  return new TextDecoder('utf-8').decode(chunk.subarray(0, ok), { stream: true });
}

function lineBreaks(text: string): number {
  return text.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** Whether a file's first chunk reads as UTF-8 (a character cut at the chunk's end is read with the next). */
function validUtf8Start(chunk: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(chunk, { stream: true });
    return true;
  } catch {
    return false;
  }
}

async function* readCsvText(text: string, sep: string): AsyncGenerator<CsvRecord & { separator: string }> {
  const { Readable: R } = await import('node:stream');
  yield* readCsv(R.from([text + '\n']), sep);
}

/**
 * `--map col=metric,…` as column → metric pairs. A column whose name holds a comma or a quote is written in
 * double quotes, a quote in it doubled, as in a CSV header: `"Pressure [bar, g]"=pressureBar`. The metric is what
 * follows the last `=`. ml/train_anomaly.py parse_map reads it the same way.
 */
export function parseColumnMap(text: string): Array<[string, string]> {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '"') {
      if (quoted && text[i + 1] === '"') {
        cur += '""';
        i++;
      } else {
        quoted = !quoted;
        cur += ch;
      }
    } else if (ch === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const out: Array<[string, string]> = [];
  for (const part of parts) {
    if (!part.trim()) continue;
    const eq = part.lastIndexOf('=');
    let col = eq > 0 ? part.slice(0, eq).trim() : '';
    if (col.length >= 2 && col.startsWith('"') && col.endsWith('"')) col = col.slice(1, -1).replaceAll('""', '"');
    if (!col) throw new Error(`--map expects column=metric, got ${part}`);
    out.push([col, part.slice(eq + 1).trim()]);
  }
  return out;
}

/** One `--map` entry as parseColumnMap reads it back: the column quoted when its name holds a comma or a quote. */
export function columnMapEntry(column: string, metric: string): string {
  return `${/[,"]/.test(column) ? `"${column.replaceAll('"', '""')}"` : column}=${metric}`;
}
