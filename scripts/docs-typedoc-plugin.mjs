// TypeDoc plugin (typedoc.json "plugin"): names each entry point's module after its npm
// package. With several entry points TypeDoc names modules by path ("core/src",
// "core/src/test-kit"); readers look for "@arca/core" and "@arca/core/test-kit".
import { Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.getReflectionsByKind(ReflectionKind.Module)) {
      const m = /^([\w-]+)\/src(?:\/(.+))?$/.exec(mod.name);
      if (m) mod.name = `@arca/${m[1]}${m[2] ? `/${m[2]}` : ''}`;
    }
  });
}
