#!/usr/bin/env node
// Checks Cypher with Neo4j's own parser and semantic analysis (the npm package
// @neo4j-cypher/language-support, pinned in package-lock.json), so that a statement Neo4j 5
// would reject fails the test run even where no Neo4j server runs.
//
// Usage: node check.cjs SCHEMA.json LOG.jsonl
//   SCHEMA.json  {"labels": [...], "relationshipTypes": [...]}: the ontology's names
//   LOG.jsonl    one {"statement": "...", "parameters": ["name", ...]} per line, the format
//                THREAD_CYPHER_LOG records; a (statement, parameter names) pair is checked once
//
// The schema holds only plain Neo4j 5 built-ins: the package's registry of a real Neo4j 5
// with every apoc.* and gds.* function and procedure removed, because Thread's Cypher must
// also run on FalkorDB and plugins are not allowed. Semantics are those of CYPHER 5.
//
// Exit status 1 when any statement has an error (diagnostic severity 1), or when one of the
// known-bad control statements below is not rejected (the check would then be unable to
// fail); 0 otherwise. Warnings (severity 2) are printed, once each with a count.
//
// Neo4j's semantic analysis takes about 0.1 s a statement (seconds for a 10 kB one), so the
// statements are shared out among worker threads, one per core (at most MAX_WORKERS, each
// loads the 60 MB analyser), and each statement's diagnostics are kept in CACHE, so that a
// rerun analyses only the statements it has not seen before.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const PACKAGE = '@neo4j-cypher/language-support';
// inside node_modules, so that `npm ci` (a new version of the package) starts it afresh
const CACHE = path.join(__dirname, 'node_modules', '.cache', 'thread-cypher-check.json');
const ERROR = 1;
const SHOWN = 200;
const MAX_WORKERS = 8;
const PER_WORKER = 40;
// a statement's fixed cost, in characters of statement text
const FIXED_COST = 200;

// Each must be rejected; together they show that syntax, variables, functions, procedures,
// parameters and statement counts are all checked.
const CONTROLS = [
  { statement: 'MATCH (n RETURN n', parameters: [], why: 'a syntax error' },
  { statement: 'MATCH (a) RETURN b', parameters: [], why: 'an undefined variable' },
  { statement: 'RETURN foo(1)', parameters: [], why: 'an unknown function' },
  { statement: "RETURN apoc.text.join(['a'], ',')", parameters: [], why: 'a plugin (APOC) function' },
  { statement: 'CALL db.indexes() YIELD label RETURN label', parameters: [], why: 'a FalkorDB-only procedure' },
  { statement: 'MATCH (n:Entity) WHERE n.uid = $uid RETURN n', parameters: [], why: 'an undeclared parameter' },
  { statement: 'MATCH (n) RETURN n.x + count(*)', parameters: [], why: 'an implicit grouping key' },
  { statement: 'MATCH (n) RETURN n; MATCH (m) RETURN m', parameters: [], why: 'two statements in one query' },
];

/** A registry (per Cypher version) without the entries of the apoc and gds plugins. */
function builtInsOnly(registry) {
  return Object.fromEntries(
    Object.entries(registry).map(([version, entries]) => [
      version,
      Object.fromEntries(Object.entries(entries).filter(([name]) => !/^(apoc|gds)\./.test(name))),
    ]),
  );
}

/**
 * The diagnostics of each entry, in a worker thread.
 *
 * Every parameter is declared with the value null: the linter only asks whether a name is
 * declared (any value but undefined), and Neo4j's semantic analysis is given the statement's
 * text alone, never the values, so no value can hide or cause an error (a number, a string,
 * a list and null give the same diagnostics); null stands for "sent, value unknown".
 */
function lintAll(entries, names) {
  const { lintCypherQuery, parseStatementsStrs, testData } = require(PACKAGE);
  const schema = {
    labels: names.labels,
    relationshipTypes: names.relationshipTypes,
    functions: builtInsOnly(testData.mockSchema.functions),
    procedures: builtInsOnly(testData.mockSchema.procedures),
    defaultLanguage: 'CYPHER 5',
  };
  return entries.map(({ statement, parameters }) => {
    const declared = Object.fromEntries(parameters.map((name) => [name, null]));
    const diagnostics = lintCypherQuery(statement, { ...schema, parameters: declared });
    const count = parseStatementsStrs(statement).length;
    if (count !== 1) {
      diagnostics.push({
        severity: ERROR,
        message: `Neo4j runs exactly one statement per query; this holds ${count}`,
        range: { start: { line: 0, character: 0 } },
        offsets: { start: 0, end: statement.length },
      });
    }
    return diagnostics.map(({ severity, message, range, offsets }) => ({
      severity,
      message,
      range: { start: range.start },
      offsets,
    }));
  });
}

/**
 * lintAll over worker threads, the results in the order of `entries`. The analysis time grows
 * with a statement's length, so the longest go first, each to the least loaded worker.
 */
async function lintInWorkers(entries, names) {
  const count = Math.max(
    1,
    Math.min(os.availableParallelism(), MAX_WORKERS, Math.ceil(entries.length / PER_WORKER)),
  );
  const shares = Array.from({ length: count }, () => ({ indices: [], load: 0 }));
  const longestFirst = [...entries.keys()].sort(
    (a, b) => entries[b].statement.length - entries[a].statement.length,
  );
  for (const index of longestFirst) {
    const share = shares.reduce((least, next) => (next.load < least.load ? next : least));
    share.indices.push(index);
    share.load += FIXED_COST + entries[index].statement.length;
  }
  const results = new Array(entries.length);
  await Promise.all(
    shares.map(
      ({ indices }) =>
        new Promise((resolve, reject) => {
          const slice = indices.map((index) => entries[index]);
          const worker = new Worker(__filename, { workerData: { entries: slice, names } });
          worker.once('message', (diagnostics) => {
            diagnostics.forEach((found, k) => {
              results[indices[k]] = found;
            });
            resolve();
          });
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`a worker stopped (exit ${code}) unanswered`)));
        }),
    ),
  );
  return results;
}

/**
 * lintInWorkers for the statements CACHE does not know, and for the controls, which always
 * run. A cache key holds this file's text, the package's version and the schema: a change to
 * any of them analyses every statement again.
 */
async function lintWithCache(entries, names, version) {
  let cache = {};
  try {
    cache = JSON.parse(fs.readFileSync(CACHE, 'utf8'));
  } catch {
    // no cache yet, or an unreadable one: analyse everything
  }
  const salt = crypto
    .createHash('sha256')
    .update(fs.readFileSync(__filename))
    .update(version)
    .update(JSON.stringify(names))
    .digest('hex');
  const keys = entries.map(({ statement, parameters }) =>
    crypto.createHash('sha256').update(salt).update(JSON.stringify([statement, parameters])).digest('hex'),
  );
  const unseen = [...entries.keys()].filter((i) => !Object.hasOwn(cache, keys[i]));
  const fresh = await lintInWorkers([...unseen.map((i) => entries[i]), ...CONTROLS], names);
  unseen.forEach((i, k) => {
    cache[keys[i]] = fresh[k];
  });
  fs.mkdirSync(path.dirname(CACHE), { recursive: true });
  fs.writeFileSync(`${CACHE}.${process.pid}`, JSON.stringify(cache));
  fs.renameSync(`${CACHE}.${process.pid}`, CACHE);
  return {
    results: keys.map((key) => cache[key]),
    controls: fresh.slice(unseen.length),
    cached: entries.length - unseen.length,
  };
}

/** The statements of a THREAD_CYPHER_LOG file, each (statement, parameter names) pair once. */
function readLog(file) {
  const unique = new Map();
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (!line.trim()) return;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch (error) {
        throw new Error(`${file}:${index + 1}: not JSON (${error.message})`);
      }
      const { statement, parameters } = entry;
      if (
        typeof statement !== 'string' ||
        !Array.isArray(parameters) ||
        !parameters.every((name) => typeof name === 'string')
      ) {
        throw new Error(`${file}:${index + 1}: expected {"statement": string, "parameters": [string]}`);
      }
      const sorted = [...new Set(parameters)].sort();
      unique.set(JSON.stringify([statement, sorted]), { statement, parameters: sorted });
    });
  return [...unique.values()];
}

/** One line of a statement, cut to SHOWN characters. */
function shown(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > SHOWN ? `${line.slice(0, SHOWN)}…` : line;
}

async function main(argv) {
  if (argv.length !== 2) {
    console.log('usage: node check.cjs SCHEMA.json LOG.jsonl');
    return 2;
  }
  const [schemaFile, logFile] = argv;
  const names = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
  const version = JSON.parse(
    fs.readFileSync(path.join(__dirname, 'node_modules', PACKAGE, 'package.json'), 'utf8'),
  ).version;
  const entries = readLog(logFile);
  const started = Date.now();
  const { results, controls, cached } = await lintWithCache(entries, names, version);
  console.log(
    `Cypher check: ${entries.length} distinct statements from ${logFile} ` +
      `(${cached} known from an earlier run), Neo4j 5 built-ins only, ${PACKAGE} ${version}`,
  );

  let errors = 0;
  const warnings = new Map();
  entries.forEach((entry, i) => {
    for (const diagnostic of results[i]) {
      if (diagnostic.severity === ERROR) {
        errors += 1;
        const { line, character } = diagnostic.range.start;
        const near = entry.statement.slice(diagnostic.offsets.start, diagnostic.offsets.end);
        console.log(`error: ${diagnostic.message}`);
        console.log(`  at ${line + 1}:${character + 1} near \`${shown(near)}\``);
        console.log(`  in: ${shown(entry.statement)}`);
      } else {
        const seen = warnings.get(diagnostic.message) ?? { count: 0, statement: entry.statement };
        seen.count += 1;
        warnings.set(diagnostic.message, seen);
      }
    }
  });
  for (const [message, { count, statement }] of warnings) {
    console.log(`warning (${count}x): ${message}`);
    console.log(`  first in: ${shown(statement)}`);
  }
  const missed = CONTROLS.filter(
    (_, i) => !controls[i].some((diagnostic) => diagnostic.severity === ERROR),
  );
  for (const control of missed) {
    console.log(`control not rejected (${control.why}): ${control.statement}`);
  }

  const warned = [...warnings.values()].reduce((sum, { count }) => sum + count, 0);
  const verdict = missed.length
    ? `${missed.length} of ${CONTROLS.length} controls NOT rejected`
    : `all ${CONTROLS.length} controls rejected`;
  const failed = errors > 0 || missed.length > 0;
  console.log(
    `Cypher check ${failed ? 'FAILED' : 'passed'}: ${entries.length} statements, ${errors} errors, ` +
      `${warned} warnings (${warnings.size} distinct), ${verdict}, ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return failed ? 1 : 0;
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (error) => {
      console.log(`Cypher check FAILED: ${error.message}`);
      process.exitCode = 1;
    },
  );
} else {
  parentPort.postMessage(lintAll(workerData.entries, workerData.names));
}
