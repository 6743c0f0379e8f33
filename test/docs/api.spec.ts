/**
 * The API reference is complete: TypeDoc, with the repository's typedoc.json, converts
 * ts/index.ts and validates it (every exported name and member documented, every {@link}
 * resolved, every referenced type exported), and reports nothing. Runs in-process with
 * `--emit none` and skipErrorChecking (npm test has type-checked the tree already).
 */
import { strict as assert } from 'node:assert';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, Logger, LogLevel, TSConfigReader, TypeDocReader } from 'typedoc';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Keeps every warning and error TypeDoc reports, instead of printing them. */
class CollectingLogger extends Logger {
  readonly messages: string[] = [];
  override log(message: string, level: LogLevel): void {
    if (level >= LogLevel.Warn) this.messages.push(message);
  }
}

describe('API reference (TypeDoc)', function () {
  it('documents every exported name, and every link and referenced type resolves', async function () {
    const app = await Application.bootstrapWithPlugins(
      { options: join(root, 'typedoc.json'), emit: 'none', skipErrorChecking: true },
      [new TypeDocReader(), new TSConfigReader()],
    );
    const logger = new CollectingLogger();
    app.logger = logger;
    const validation = app.options.getValue('validation');
    assert.ok(validation.notDocumented && validation.invalidLink && validation.notExported, 'typedoc.json must keep notDocumented, invalidLink and notExported validation on');
    assert.ok(app.options.getValue('treatWarningsAsErrors'), 'typedoc.json must keep treatWarningsAsErrors');
    const project = await app.convert();
    assert.ok(project, `TypeDoc could not convert ts/index.ts:\n${logger.messages.join('\n')}`);
    app.validate(project);
    assert.deepEqual(logger.messages, [], `${logger.messages.length} TypeDoc warnings (fix the doc comments; \`npm run docs\` shows them too):\n${logger.messages.join('\n')}`);
  });
});
