// Drives Atoll's dashboard in headless Debian chromium through playwright-core,
// in a 1280x800 window: enters the API token, waits for a live publisher's
// stream row and for its bitrate plot to move; with --held-stream, waits for
// that stream's held viewer to show as waiting; checks that nothing is cut
// off (no table cell beyond its table's region, no horizontal scrolling);
// with --end-stream, clicks that stream's End stream button, first dismissing
// the confirmation (the stream stays), then accepting it, and waits until the
// stream is gone from the page; last clicks the publisher's Kick button and
// waits until the connection is gone. Prints one JSON line with what it saw;
// exits 0 when everything held, 1 with a reason when not, 2 on a usage error.
//
//   node tests/browser/dashboard_check.mjs --port PORT --stream NAME [--token TOKEN]
//     [--held-stream NAME] [--end-stream NAME] [--screenshot PATH]
//     [--host 127.0.0.1] [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// The token may come from ATOLL_API_TOKEN instead of --token (kept out of ps).

import { startBrowserCheck } from "./common.mjs";

const { report, options, url, remaining, step, launch, close, finish } = startBrowserCheck({
  extraOptions: {
    "held-stream": { type: "string" },
    "end-stream": { type: "string" },
  },
});
/** The window the layout is checked in: a common laptop screen. */
const VIEWPORT = { width: 1280, height: 800 };

/** The publisher's plot: its data- attributes and a picture of it. */
function readPlot(page, id) {
  return page.evaluate((id) => {
    const canvas = [...document.querySelectorAll("canvas")].find((c) =>
      c.dataset.connectionId === id
    );
    if (!canvas) return null;
    return {
      points: Number(canvas.dataset.points),
      lastMbps: Number(canvas.dataset.lastMbps),
      lastRttMs: Number(canvas.dataset.lastRttMs),
      recentMbps: (canvas.dataset.recentMbps ?? "").split(" ").filter(Boolean).map(Number),
      label: canvas.getAttribute("aria-label"),
      image: canvas.toDataURL(),
    };
  }, id);
}

try {
  const { page, problems } = await launch({
    viewport: VIEWPORT,
  });

  step("open the page");
  const response = await page.goto(url, { waitUntil: "load", timeout: remaining() });
  report.page = {
    status: response?.status() ?? null,
    contentType: response?.headers()["content-type"] ?? null,
    csp: response?.headers()["content-security-policy"] ?? null,
    title: await page.title(),
  };
  if (response?.status() !== 200) throw new Error(`GET / answered ${response?.status()}`);

  step("enter the API token");
  await page.getByLabel("API token").fill(options.token, { timeout: remaining() });
  await page.getByRole("button", { name: "Use token" }).click({ timeout: remaining() });

  step("wait for the stream row");
  const streamRow = await page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll("#streams-body tr")].find((r) =>
        r.dataset.stream === name
      );
      return row && [...row.cells].map((c) => c.textContent);
    },
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  report.streamRow = await streamRow.jsonValue();

  step("wait for the stream's tracks line");
  const tracksLine = await page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll("#streams-body tr")].find((r) =>
        r.dataset.stream === name
      );
      const line = row?.querySelector('[data-field="tracks"]');
      return line && !line.hidden && line.textContent;
    },
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  report.tracksLine = await tracksLine.jsonValue();

  step("wait for the publisher's connection row");
  const publisher = await page.waitForFunction(
    (name) => {
      const row = [...document.querySelectorAll("#connections-body tr")].find((r) =>
        r.cells[1]?.textContent === "publisher" && r.cells[2]?.textContent === name
      );
      const details = row &&
        document.querySelector(
          `#connections-body tr[data-details-for="${row.dataset.connectionId}"]`,
        );
      if (!row || !details) return false;
      // Every value by name, from the row and its details line.
      const fields = Object.fromEntries(
        [...row.querySelectorAll("[data-field]"), ...details.querySelectorAll("[data-field]")]
          .map((element) => [element.dataset.field, element.textContent]),
      );
      return {
        id: row.dataset.connectionId,
        cells: [...row.cells].map((c) => c.textContent),
        fields,
      };
    },
    options.stream,
    { timeout: remaining(), polling: 100 },
  );
  const { id, cells, fields } = await publisher.jsonValue();
  report.publisher = { id, cells, fields };
  // Atoll's ids are UUIDs; anything else would not be safe in the selectors below.
  if (!/^[\w-]+$/.test(id ?? "")) throw new Error(`Unexpected connection id ${JSON.stringify(id)}`);
  if (!report.streamRow[1] || !id.startsWith(report.streamRow[1])) {
    throw new Error(`The stream row names publisher ${report.streamRow[1]}, not ${id}`);
  }

  step("wait for the bitrate plot to move");
  await page.waitForFunction(
    (id) => {
      const canvas = [...document.querySelectorAll("canvas")].find((c) =>
        c.dataset.connectionId === id
      );
      if (!canvas || Number(canvas.dataset.points) < 3) return false;
      const recent = (canvas.dataset.recentMbps ?? "").split(" ").filter(Boolean).map(Number);
      return new Set(recent).size >= 2 && Math.max(...recent) > 0;
    },
    id,
    { timeout: remaining(), polling: 100 },
  );
  const before = await readPlot(page, id);
  await page.waitForFunction(
    ([id, points]) =>
      [...document.querySelectorAll("canvas")].some((c) =>
        c.dataset.connectionId === id && Number(c.dataset.points) !== points
      ),
    [id, before.points],
    { timeout: remaining(), polling: 100 },
  );
  const after = await readPlot(page, id);
  report.plot = {
    points: [before.points, after.points],
    lastMbps: [before.lastMbps, after.lastMbps],
    recentMbps: after.recentMbps,
    lastRttMs: after.lastRttMs,
    label: after.label,
    redrawn: before.image !== after.image,
  };
  if (!report.plot.redrawn) throw new Error("The plot's pixels did not change with a new sample");

  if (options["held-stream"]) {
    step("wait for the held viewer to show as waiting");
    const held = await page.waitForFunction(
      (name) => {
        const row = [...document.querySelectorAll("#connections-body tr")].find((r) =>
          r.querySelector('[data-field="stream"]')?.textContent === name
        );
        const state = row?.querySelector('[data-field="state"]')?.textContent;
        return state === "waiting" &&
          {
            id: row.dataset.connectionId,
            mode: row.querySelector('[data-field="mode"]')?.textContent,
            state,
          };
      },
      options["held-stream"],
      { timeout: remaining(), polling: 100 },
    );
    report.held = await held.jsonValue();
  }

  step(`check the layout at ${VIEWPORT.width}x${VIEWPORT.height}`);
  // A poll or two more, so that every row has its figures.
  await page.waitForTimeout(Math.min(1500, remaining()));
  report.layout = await page.evaluate(() => {
    const root = document.documentElement;
    const cut = [];
    for (const region of document.querySelectorAll(".scroll")) {
      const edge = region.getBoundingClientRect();
      if (region.scrollWidth > region.clientWidth) {
        cut.push(
          `${
            region.getAttribute("aria-labelledby")
          } scrolls: ${region.scrollWidth} px in ${region.clientWidth}`,
        );
      }
      for (const cell of region.querySelectorAll("th, td")) {
        const box = cell.getBoundingClientRect();
        const overflows = cell.scrollWidth > cell.clientWidth + 1;
        if (box.right > edge.right + 0.5 || box.left < edge.left - 0.5 || overflows) {
          cut.push(
            `"${
              cell.textContent.trim().slice(0, 40)
            }" spans ${box.left}-${box.right} of ${edge.left}-${edge.right}${
              overflows ? ", its content overflows" : ""
            }`,
          );
        }
      }
    }
    const plots = [...document.querySelectorAll("#connections-body canvas")].map((canvas) => {
      const box = canvas.getBoundingClientRect();
      return [box.width, box.height];
    });
    return {
      innerWidth,
      clientWidth: root.clientWidth,
      scrollWidth: root.scrollWidth,
      cells: document.querySelectorAll(".scroll th, .scroll td").length,
      plots,
      cut,
    };
  });
  if (options.screenshot) await page.screenshot({ path: options.screenshot, fullPage: true });
  if (report.layout.scrollWidth > report.layout.clientWidth) {
    throw new Error(
      `The page scrolls sideways: ${report.layout.scrollWidth} px in ${report.layout.clientWidth}`,
    );
  }
  if (report.layout.cut.length > 0) throw new Error(`Cut off: ${report.layout.cut.join("; ")}`);

  if (options["end-stream"]) {
    const name = options["end-stream"];
    const button = page.getByRole("button", { name: `End stream ${name}`, exact: true });
    const row = page.locator("#streams-body tr").filter({ has: button });
    step("click End stream and dismiss the confirmation");
    const dismissed = page.waitForEvent("dialog", { timeout: remaining() }).then(async (dialog) => {
      const message = dialog.message();
      await dialog.dismiss();
      return message;
    });
    await button.click({ timeout: remaining() });
    const confirmation = await dismissed;
    await page.locator("#action-message", { hasText: "not ended" }).waitFor({
      timeout: remaining(),
    });
    // Two polls later the stream is still there: nothing was sent.
    await page.waitForTimeout(Math.min(2000, remaining()));
    if (await row.count() !== 1) throw new Error(`Stream ${name} left although not confirmed`);

    step("click End stream and accept the confirmation");
    const accepted = page.waitForEvent("dialog", { timeout: remaining() }).then((dialog) =>
      dialog.accept()
    );
    const endedAt = Date.now();
    await button.click({ timeout: remaining() });
    await accepted;
    step("wait for the stream to leave the page");
    await row.waitFor({ state: "detached", timeout: remaining() });
    report.endStream = {
      confirmation,
      goneAfterMs: Date.now() - endedAt,
      message: await page.locator("#action-message").textContent(),
    };
  }

  step("click Kick");
  const kickedAt = Date.now();
  await page.locator(`#connections-body tr[data-connection-id="${id}"] button`, {
    hasText: "Kick",
  }).click({ timeout: remaining() });

  step("wait for the connection to leave the page");
  await page.locator(`#connections-body tr[data-connection-id="${id}"]`).waitFor({
    state: "detached",
    timeout: remaining(),
  });
  report.kick = {
    goneAfterMs: Date.now() - kickedAt,
    message: await page.locator("#action-message").textContent(),
    readMessage: await page.locator("#read-message").textContent(),
  };
  if (problems.length > 0) throw new Error(problems.join("; "));
  step("done");
  report.ok = true;
} catch (error) {
  report.reason = `${report.step}: ${error.message.split("\n")[0]}`;
} finally {
  await close();
}
finish(report.ok ? 0 : 1);
