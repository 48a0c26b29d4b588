// Reads one Mermaid diagram on stdin and parses it with the real Mermaid (the npm package, under
// node with jsdom as its DOM), under Mermaid's default limits. Prints what Mermaid understood as
// JSON: the diagram type, the limits, every vertex with its text, every edge and every subgraph
// with its members. Exits 1 with Mermaid's message when the diagram does not parse or is larger
// than maxTextSize. Run with the directory holding node_modules as the working directory.
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;

const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

let text = '';
for await (const chunk of process.stdin) text += chunk;

const config = mermaid.mermaidAPI.getConfig();
const fail = (message) => {
  console.error(message);
  process.exit(1);
};
// mermaid.render replaces a text longer than maxTextSize with an error diagram; parse does not
// check it, so it is checked here against the package's own default.
if (text.length > config.maxTextSize) {
  fail(`Maximum text size in diagram exceeded: ${text.length} > ${config.maxTextSize}`);
}
try {
  await mermaid.parse(text);
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
  const db = diagram.db;
  console.log(JSON.stringify({
    type: diagram.type,
    mermaid: (await import('mermaid/package.json', { with: { type: 'json' } })).default.version,
    maxTextSize: config.maxTextSize,
    maxEdges: config.maxEdges,
    textSize: text.length,
    vertices: [...db.getVertices().values()].map((v) => ({ id: v.id, text: v.text })),
    edges: db.getEdges().map((e) => ({ start: e.start, end: e.end, stroke: e.stroke })),
    subgraphs: db.getSubGraphs().map((s) => ({ id: s.id, title: s.title, nodes: s.nodes })),
  }));
} catch (e) {
  fail(`Mermaid cannot parse the diagram: ${e.message ?? e}`);
}
