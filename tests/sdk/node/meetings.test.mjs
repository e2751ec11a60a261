// Drives every public method of the official Node SDK `@vonage/meetings@1.12.1` against the
// Meetings emulator over real sockets, and asserts on what a user of the SDK sees.
//
// Run by tests/sdk/test_sdk_node.py, which serves the emulator and sets MEETINGS_EMULATOR_URL.
// By hand: start `python3 dev.py run` and
//   MEETINGS_EMULATOR_URL=http://127.0.0.1:9010 node --test meetings.test.mjs
//
// The SDK's bugs, each shown by a test below with the workaround a user can apply today:
// - `updateRoom` sends `{"update_options": {...}}`; the API wants `update_details`, so the
//   live API (and the emulator) answer 400. Workaround: send the PATCH yourself, e.g. with
//   the client's own `sendPatchRequest` (same JWT) and `{update_details: {...}}`.
// - `getSessionRecordings` calls GET /v1/meetings/sessions/{id} (no `/recordings`): 404.
//   Workaround: `sendGetRequest(`${host}/v1/meetings/sessions/${id}/recordings`)`.
// - `createRoom`/`updateRoom` silently drop every nested option (recordingOptions,
//   callbackUrls, availableFeatures, initialJoinOptions): `lodash.pick` is given dotted paths
//   it does not understand (uiSettings is not in the SDK's list at all). Workaround: POST the
//   room yourself.
// - `getThemes` throws a TypeError when the application has no theme: the API answers `{}`
//   and the SDK calls `.map` on it.
// - `uploadIcon` posts the S3 form as an empty body (with the JWT header): S3 refuses it.
//   Workaround: POST the presigned form yourself (multipart), then PUT finalizeLogos.
// - The package `require`s `lodash.pick` without declaring it: install it next to the SDK.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';

import { Auth } from '@vonage/auth';
import { LogoType, MeetingType, Meetings } from '@vonage/meetings';

const BASE = process.env.MEETINGS_EMULATOR_URL?.replace(/\/+$/, '');
const APPLICATION_ID = '8f1a6a3e-5a0e-4f53-9c1e-2f7d9b1c4e21';

// -- helpers ---------------------------------------------------------------------------

function newClient() {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const auth = new Auth({ applicationId: APPLICATION_ID, privateKey });
  return new Meetings(auth, { meetingsHost: BASE });
}

/** The emulator's control plane, with plain fetch (no credentials needed). */
async function control(method, path, body) {
  const response = await fetch(`${BASE}/_emulator${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} /_emulator${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The error an SDK call throws; fails the test when it does not throw. */
function claims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

async function failure(call) {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail('expected the SDK call to throw');
}

/** What a failed API call looks like to a user: the SDK's VetchError, and the body it carries. */
async function apiFailure(call, status) {
  const error = await failure(call);
  assert.equal(error.message, `Request failed with status code ${status}`);
  assert.equal(error.response?.status, status);
  return { error, body: await error.response.json() };
}

async function collect(generator) {
  const items = [];
  for await (const item of generator) {
    items.push(item);
  }
  return items;
}

const inDays = (days) => new Date(Date.now() + days * 86_400_000).toISOString();

/** A host joins the room, records, stops; the clock moves until the recording is uploaded. */
async function recordedMeeting(roomId, { upload = true } = {}) {
  const host = await control('POST', `/rooms/${roomId}/participants`, {
    name: 'Host',
    is_host: true,
  });
  const recording = await control('POST', `/sessions/${host.session_id}/recordings`, {
    participant_id: host.participant_id,
  });
  await control('POST', `/recordings/${recording.id}/stop`);
  if (upload) {
    await control('POST', '/clock', { advance_seconds: 5 });
  }
  return { sessionId: host.session_id, recordingId: recording.id };
}

// A PNG (RGBA, fully transparent) that the finalize checks accept as a logo or a favicon.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buffer) {
  let c = 0xffffffff;
  for (const byte of buffer) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}
function transparentPng(side) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter, no interlace
  const rows = Buffer.alloc(side * (1 + side * 4)); // each row: filter byte 0, then pixels
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// -- the tests -------------------------------------------------------------------------

const suite = { skip: !BASE && 'MEETINGS_EMULATOR_URL is not set' };

describe('@vonage/meetings against the emulator', suite, () => {
  let meetings;

  before(() => {
    meetings = newClient();
  });

  beforeEach(async () => {
    await control('POST', '/reset');
  });

  test('every public method of Meetings is driven by a test below', () => {
    const methods = Object.getOwnPropertyNames(Meetings.prototype).filter(
      (name) => name !== 'constructor' && !name.startsWith('_'),
    );
    // `_getIconUploadUrl` and `_uploadToAws` (protected) run inside uploadIcon.
    assert.deepEqual(methods.sort(), [
      'createRoom', 'createTheme', 'deleteRecording', 'deleteTheme', 'getDialInNumbers',
      'getRecording', 'getRoom', 'getRoomPage', 'getRooms', 'getRoomsForTheme',
      'getRoomsForThemePage', 'getSessionRecordings', 'getTheme', 'getThemes', 'setDefaultTheme',
      'updateRoom', 'updateTheme', 'uploadIcon',
    ]);
  });

  test('the client is built with meetingsHost and signs RS256 application JWTs', async () => {
    assert.equal(meetings.getConfig().meetingsHost, BASE);
    // The Authorization header the SDK puts on every request (the emulator checks its claims).
    const header = await meetings.auth.createBearerHeader();
    const [head, claims] = header.replace(/^Bearer /, '').split('.').slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    assert.equal(head.alg, 'RS256');
    assert.equal(claims.application_id, APPLICATION_ID);
    assert.equal(claims.exp - claims.iat, 900);
    assert.equal(typeof claims.jti, 'string');

    // The README's apiKey/apiSecret example cannot make the Bearer token the SDK always sends.
    const keyOnly = new Meetings(new Auth({ apiKey: 'abc123', apiSecret: 'secret' }), {
      meetingsHost: BASE,
    });
    const error = await failure(() => keyOnly.getRoomPage());
    assert.equal(error.message, 'Missing application id');
  });

  describe('rooms', () => {
    test('createRoom: an instant room, camelCased, with hostUrl and guestUrl', async () => {
      const room = await meetings.createRoom({
        displayName: 'Standup',
        metadata: 'team=core',
        joinApprovalLevel: 'after_owner_only',
        // Nested options are silently dropped by the SDK (lodash.pick with dotted paths),
        // and so are uiSettings, isLocaleSwitcherAvailable and isCaptionsAvailable.
        recordingOptions: { autoRecord: true },
        availableFeatures: { isChatAvailable: false, isCaptionsAvailable: true },
        uiSettings: { language: 'es' },
      });
      assert.match(room.id, /^[0-9a-f-]{36}$/);
      assert.equal(room.displayName, 'Standup');
      assert.equal(room.metadata, 'team=core');
      assert.equal(room.type, 'instant');
      assert.equal(room.isAvailable, true);
      assert.equal(room.joinApprovalLevel, 'after_owner_only');
      assert.match(room.meetingCode, /^\d{9}$/);
      assert.equal(room.guestUrl, `https://meetings.vonage.com/${room.meetingCode}`);
      const hostUrl = new URL(room.hostUrl);
      assert.equal(hostUrl.origin, 'https://meetings.vonage.com');
      assert.equal(hostUrl.searchParams.get('room_token'), room.meetingCode);
      assert.match(hostUrl.searchParams.get('participant_token'), /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.equal(room._links, undefined);
      assert.ok(!Number.isNaN(Date.parse(room.expiresAt)));
      assert.ok(!Number.isNaN(Date.parse(room.createdAt)));
      // What the SDK dropped came back as the API's defaults.
      assert.deepEqual(room.recordingOptions, { autoRecord: false, recordOnlyOwner: false });
      assert.equal(room.availableFeatures.isChatAvailable, true);
      assert.equal(room.availableFeatures.isCaptionsAvailable, false);
      assert.deepEqual(room.uiSettings, { language: 'default' });
      assert.deepEqual(room.initialJoinOptions, { microphoneState: 'default' });
    });

    test('createRoom: a long-term room; nested options need the REST call', async () => {
      const expiresAt = inDays(30);
      const room = await meetings.createRoom({
        displayName: 'Weekly',
        type: MeetingType.LONG_TERM,
        expiresAt,
        expireAfterUse: true,
      });
      assert.equal(room.type, 'long_term');
      assert.equal(room.expireAfterUse, true);
      assert.equal(Date.parse(room.expiresAt), Date.parse(expiresAt));
      assert.equal(typeof room.hostUrl, 'string');
      assert.equal(typeof room.guestUrl, 'string');

      // Workaround for the dropped nested options: the client's own POST, snake_case body.
      const { data } = await meetings.sendPostRequest(`${BASE}/v1/meetings/rooms`, {
        display_name: 'Recorded',
        type: 'long_term',
        expires_at: expiresAt,
        recording_options: { auto_record: true },
        available_features: { is_chat_available: false },
      });
      const recorded = await meetings.getRoom(data.id);
      assert.equal(recorded.recordingOptions.autoRecord, true);
      assert.equal(recorded.availableFeatures.isChatAvailable, false);
    });

    test('getRoom: the same room, camelCased; an unknown id is a 404', async () => {
      const created = await meetings.createRoom({ displayName: 'Read me' });
      const room = await meetings.getRoom(created.id);
      // The host token is issued at each read (as the live API did): same participant.
      const host = (url) => claims(new URL(url).searchParams.get('participant_token'));
      assert.equal(host(room.hostUrl).participantId, host(created.hostUrl).participantId);
      assert.ok(host(room.hostUrl).iat >= host(created.hostUrl).iat);
      assert.deepEqual({ ...room, hostUrl: null }, { ...created, hostUrl: null });

      const { body } = await apiFailure(
        () => meetings.getRoom('6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d'),
        404,
      );
      assert.equal(body.name, 'NotFoundError');
    });

    test('getRoomPage: one page, as the API sends it (snake_case, absolute links)', async () => {
      for (let n = 0; n < 12; n++) {
        await meetings.createRoom({ displayName: `Room ${n}` });
      }
      const first = await meetings.getRoomPage({ pageSize: 5 });
      assert.equal(first.page_size, 5);
      assert.equal(first.total_items, 12);
      assert.ok(Array.isArray(first._embedded));
      assert.equal(first._embedded.length, 5);
      assert.equal(first._embedded[0].display_name, 'Room 0');
      const next = new URL(first._links.next.href);
      assert.equal(next.origin, new URL(BASE).origin);
      assert.equal(next.pathname, '/v1/meetings/rooms');

      const startId = next.searchParams.get('start_id');
      const second = await meetings.getRoomPage({ pageSize: 5, startId });
      assert.deepEqual(
        second._embedded.map((room) => room.display_name),
        ['Room 5', 'Room 6', 'Room 7', 'Room 8', 'Room 9'],
      );

      // The last page with rooms points past its last room, as the live API did; the page
      // there is empty and has no next.
      const all = await meetings.getRoomPage();
      assert.equal(all._embedded.length, 12);
      const past = new URL(all._links.next.href).searchParams.get('start_id');
      const after = await meetings.getRoomPage({ startId: past });
      assert.deepEqual(after._embedded, []);
      assert.equal(after._links.next, undefined);
    });

    test('getRooms: follows _links.next through every page and stops', async () => {
      const created = [];
      for (let n = 0; n < 25; n++) {
        created.push((await meetings.createRoom({ displayName: `Room ${n}` })).id);
      }
      const pages = [];
      const getRoomPage = meetings.getRoomPage.bind(meetings);
      const counting = newClient();
      counting.getRoomPage = async (params) => {
        pages.push(params.startId ?? null);
        return getRoomPage(params);
      };
      const rooms = await collect(counting.getRooms({ pageSize: 10 }));
      assert.deepEqual(
        rooms.map((room) => room.id),
        created,
      );
      // Three pages of rooms, then the empty page the last one points to, where it stops.
      assert.equal(pages.length, 4);
      assert.equal(pages[0], null);
      assert.ok(pages[1] && pages[2] && pages[3] && new Set(pages.slice(1)).size === 3);
      assert.ok(rooms.every((room) => room.hostUrl && room.guestUrl && !room._links));

      // With the API's default page size (20): two pages, all 25 rooms.
      assert.equal((await collect(meetings.getRooms())).length, 25);
    });

    test('updateRoom: the SDK sends update_options, so the API answers 400', async () => {
      const room = await meetings.createRoom({
        displayName: 'Weekly',
        type: MeetingType.LONG_TERM,
        expiresAt: inDays(30),
      });
      const { body } = await apiFailure(
        () => meetings.updateRoom(room.id, { expireAfterUse: true }),
        400,
      );
      assert.equal(body.name, 'InputValidationError');
      assert.equal(body.message, '"update_options" is not allowed. "update_details" is required');
      assert.equal((await meetings.getRoom(room.id)).expireAfterUse, false);

      // Workaround: send the PATCH with `update_details` through the client's own plumbing.
      const { data } = await meetings.sendPatchRequest(`${BASE}/v1/meetings/rooms/${room.id}`, {
        update_details: { expire_after_use: true, join_approval_level: 'explicit_approval' },
      });
      assert.equal(data.expire_after_use, true);
      const updated = await meetings.getRoom(room.id);
      assert.equal(updated.expireAfterUse, true);
      assert.equal(updated.joinApprovalLevel, 'explicit_approval');
    });
  });

  describe('recordings', () => {
    test('getRecording: an uploaded recording, with its download url', async () => {
      const room = await meetings.createRoom({ displayName: 'Recorded' });
      const { sessionId, recordingId } = await recordedMeeting(room.id);
      const recording = await meetings.getRecording(recordingId);
      assert.equal(recording.id, recordingId);
      assert.equal(recording.sessionId, sessionId);
      assert.equal(recording.status, 'uploaded');
      assert.ok(Date.parse(recording.endedAt) >= Date.parse(recording.startedAt));
      assert.ok(recording.url.startsWith(`${BASE}/`));
      const download = await fetch(recording.url);
      assert.equal(download.status, 200);
      assert.equal(download.headers.get('content-type'), 'video/mp4');
      await download.arrayBuffer();
    });

    test('deleteRecording: once uploaded; then it is gone', async () => {
      const room = await meetings.createRoom({ displayName: 'Recorded' });
      const { recordingId } = await recordedMeeting(room.id);
      assert.equal(await meetings.deleteRecording(recordingId), undefined);
      await apiFailure(() => meetings.getRecording(recordingId), 404);
      await apiFailure(() => meetings.deleteRecording(recordingId), 404);
    });

    test('deleteRecording: before the upload the API answers 500', async () => {
      const room = await meetings.createRoom({ displayName: 'Recorded' });
      const { recordingId } = await recordedMeeting(room.id, { upload: false });
      assert.equal((await meetings.getRecording(recordingId)).status, 'stopped');
      await apiFailure(() => meetings.deleteRecording(recordingId), 500);
    });

    test('getSessionRecordings: the SDK calls /sessions/{id}, which is a 404', async () => {
      const room = await meetings.createRoom({ displayName: 'Recorded' });
      const { sessionId, recordingId } = await recordedMeeting(room.id);
      const { body } = await apiFailure(
        () => collect(meetings.getSessionRecordings(sessionId)),
        404,
      );
      assert.equal(body.name, 'NotFoundError');

      // Workaround: GET the right path through the client's own plumbing.
      const { data } = await meetings.sendGetRequest(
        `${BASE}/v1/meetings/sessions/${sessionId}/recordings`,
      );
      const ids = data._embedded.recordings.map((recording) => recording.id);
      assert.deepEqual(ids, [recordingId]);
    });
  });

  test('getDialInNumbers: every number, camelCased', async () => {
    const numbers = await collect(meetings.getDialInNumbers());
    assert.ok(numbers.length > 0);
    for (const number of numbers) {
      assert.match(number.number, /^\d+$/);
      assert.match(number.locale, /^[a-z]{2}-[A-Z]{2}$/);
      assert.equal(typeof number.displayName, 'string');
      assert.equal(number.display_name, undefined);
    }
  });

  describe('themes', () => {
    const themeFields = {
      themeName: 'Acme',
      mainColor: '#12f5ab',
      brandText: 'Acme Inc.',
      shortCompanyUrl: 'acme',
    };

    test('getThemes with no theme: the API answers [] and the SDK yields none', async () => {
      assert.deepEqual(await collect(meetings.getThemes()), []);
    });

    test('createTheme, getTheme, getThemes', async () => {
      const theme = await meetings.createTheme(themeFields);
      assert.match(theme.themeId, /^[0-9a-f-]{36}$/);
      assert.equal(theme.themeName, 'Acme');
      assert.equal(theme.mainColor, '#12f5ab');
      assert.equal(theme.brandText, 'Acme Inc.');
      assert.equal(theme.shortCompanyUrl, 'acme');
      assert.equal(theme.domain, 'VCP');
      assert.equal(theme.brandImageWhite, null);
      assert.equal(theme.brandImageWhiteUrl, null);

      assert.deepEqual(await meetings.getTheme(theme.themeId), theme);
      const other = await meetings.createTheme({ mainColor: '#000000', brandText: 'Other' });
      const themes = await collect(meetings.getThemes());
      assert.deepEqual(
        themes.map((t) => t.themeId),
        [theme.themeId, other.themeId],
      );
      assert.deepEqual(themes[0], theme);

      const { body } = await apiFailure(() => meetings.createTheme(themeFields), 409);
      assert.equal(body.message, 'theme_name already exists in application');
      await apiFailure(() => meetings.getTheme('6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d'), 404);
    });

    test('updateTheme: sends update_details; an empty update is a 400', async () => {
      const theme = await meetings.createTheme(themeFields);
      const updated = await meetings.updateTheme(theme.themeId, {
        themeName: 'Acme 2',
        mainColor: '#ff0000',
      });
      assert.equal(updated.themeId, theme.themeId);
      assert.equal(updated.themeName, 'Acme 2');
      assert.equal(updated.mainColor, '#ff0000');
      assert.equal(updated.brandText, 'Acme Inc.');
      assert.deepEqual(await meetings.getTheme(theme.themeId), updated);

      const { body } = await apiFailure(() => meetings.updateTheme(theme.themeId, {}), 400);
      assert.equal(body.message, '"update_details" must have at least 1 key');
    });

    test('deleteTheme: refused while in use, unless forced', async () => {
      const unused = await meetings.createTheme({ mainColor: '#000000', brandText: 'Unused' });
      assert.equal(await meetings.deleteTheme(unused.themeId), undefined);
      await apiFailure(() => meetings.getTheme(unused.themeId), 404);

      const theme = await meetings.createTheme(themeFields);
      const room = await meetings.createRoom({ displayName: 'Branded', themeId: theme.themeId });
      assert.equal(room.themeId, theme.themeId);
      assert.ok(room.guestUrl.includes('acme'), room.guestUrl);

      const { body } = await apiFailure(() => meetings.deleteTheme(theme.themeId), 400);
      assert.equal(body.name, 'BadRequestError');
      assert.equal(body.message, 'could not delete theme');
      assert.deepEqual(body.errors, [`Theme ${theme.themeId} is used by 1 room`]);
      assert.equal((await meetings.getTheme(theme.themeId)).themeId, theme.themeId);

      assert.equal(await meetings.deleteTheme(theme.themeId, true), undefined);
      await apiFailure(() => meetings.getTheme(theme.themeId), 404);
      assert.equal((await meetings.getRoom(room.id)).themeId, null);
      await apiFailure(() => meetings.deleteTheme(theme.themeId, true), 404);
    });

    test('setDefaultTheme: new rooms take it; the default theme is in use', async () => {
      const theme = await meetings.createTheme(themeFields);
      assert.equal(await meetings.setDefaultTheme(theme.themeId), true);
      const room = await meetings.createRoom({ displayName: 'Default branded' });
      assert.equal(room.themeId, theme.themeId);

      const { body } = await apiFailure(() => meetings.deleteTheme(theme.themeId), 400);
      assert.equal(body.message, 'could not delete theme');
      assert.ok(body.errors.some((reason) => reason.includes('default theme')), body.errors);

      const unknown = '6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';
      const refused = await apiFailure(() => meetings.setDefaultTheme(unknown), 400);
      assert.equal(
        refused.body.message,
        `Failed to update application because theme id ${unknown} not found`,
      );
    });

    test('getRoomsForThemePage and getRoomsForTheme: the theme\'s rooms only', async () => {
      const theme = await meetings.createTheme(themeFields);
      const branded = [];
      for (let n = 0; n < 12; n++) {
        await meetings.createRoom({ displayName: `Plain ${n}` });
        const room = await meetings.createRoom({
          displayName: `Branded ${n}`,
          themeId: theme.themeId,
        });
        branded.push(room.id);
      }

      const page = await meetings.getRoomsForThemePage(theme.themeId, { pageSize: 5 });
      assert.equal(page._embedded.length, 5);
      assert.equal(page.total_items, 12);
      assert.ok(page._embedded.every((room) => room.theme_id === theme.themeId));
      const next = new URL(page._links.next.href);
      assert.equal(next.pathname, `/v1/meetings/themes/${theme.themeId}/rooms`);

      const rooms = await collect(meetings.getRoomsForTheme(theme.themeId, { pageSize: 5 }));
      assert.deepEqual(
        rooms.map((room) => room.id),
        branded,
      );
      assert.ok(rooms.every((room) => room.themeId === theme.themeId && room.hostUrl));

      const unknown = '6a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';
      const { body } = await apiFailure(() => meetings.getRoomsForThemePage(unknown), 404);
      assert.equal(body.message, `Failed to get rooms because theme id ${unknown} not found`);
    });

    describe('uploadIcon', () => {
      let dir;
      let logo;

      before(() => {
        dir = mkdtempSync(join(tmpdir(), 'meetings-logo-'));
        logo = join(dir, 'logo.png');
        writeFileSync(logo, transparentPng(32));
      });

      after(() => {
        rmSync(dir, { recursive: true, force: true });
      });

      test('a missing file is refused before any request', async () => {
        const theme = await meetings.createTheme(themeFields);
        const missing = join(dir, 'missing.png');
        const error = await failure(() =>
          meetings.uploadIcon(theme.themeId, LogoType.WHITE, missing),
        );
        assert.equal(error.message, `File ${missing} does not exist`);
      });

      test('the SDK posts an empty S3 form, which S3 refuses', async () => {
        const theme = await meetings.createTheme(themeFields);
        const error = await failure(() => meetings.uploadIcon(theme.themeId, LogoType.WHITE, logo));
        assert.match(error.message, /^Failed to upload to AWS: \S/);
        assert.equal(
          error.message,
          "Failed to upload to AWS: Bucket POST must contain a field named 'key'.  " +
            'If it is specified, please check the order of the fields.',
        );
        assert.equal((await meetings.getTheme(theme.themeId)).brandImageWhite, null);
      });

      test('workaround: post the presigned form yourself, then finalizeLogos', async () => {
        const theme = await meetings.createTheme(themeFields);
        const { data: forms } = await meetings.sendGetRequest(
          `${BASE}/v1/meetings/themes/logos-upload-urls`,
        );
        const form = forms.find(({ fields }) => fields.logoType === LogoType.WHITE);
        const body = new FormData();
        for (const [name, value] of Object.entries(form.fields)) {
          body.append(name, value);
        }
        body.append('file', new Blob([transparentPng(32)], { type: 'image/png' }), 'logo.png');
        const upload = await fetch(form.url, { method: 'POST', body });
        assert.equal(upload.status, 204, await upload.text());

        await meetings.sendPutRequest(`${BASE}/v1/meetings/themes/${theme.themeId}/finalizeLogos`, {
          keys: [form.fields.key],
        });
        const branded = await meetings.getTheme(theme.themeId);
        assert.match(branded.brandImageWhite, new RegExp(`^logos/${theme.themeId}/white/`));
        const image = await fetch(branded.brandImageWhiteUrl);
        assert.equal(image.status, 200);
        assert.equal(image.headers.get('content-type'), 'image/png');
        await image.arrayBuffer();
      });
    });
  });
});
