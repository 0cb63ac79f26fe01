/*
 * Race Control template builder — the sample finishers the canvas shows (the "Sample" menu).
 *
 * Realistic on purpose: a long name, accents, right-to-left text, an unknown bib, a personal
 * message and a bunch of 8 (the multi-up grid). A lone runner is shown as the 9th finisher,
 * after the bunch: the recent-finishers list behind them is the bunch, as on a screen mid-race.
 * tests/builder/test_parity_browser.py feeds exactly these runners to a real screen over the
 * server (times from a gun, places by time), so every value here is one the server sends.
 */
(function () {
  'use strict';

  var BUNCH = [
    { bib: '11', first_name: 'Ana', last_name: 'Silva', city: 'Lisbon', country: 'PT', team: 'Lisboa Runners', time: '38:01', place: 1 },
    { bib: '12', first_name: 'Bjørn', last_name: 'Dæhlie', city: 'Oslo', country: 'NO', time: '38:01', place: 2 },
    { bib: '13', first_name: 'Chen', last_name: 'Wei', city: 'Shanghai', country: 'CN', time: '38:02', place: 3 },
    { bib: '14', first_name: 'Dmitri', last_name: 'Volkov-Alexandrovich', city: 'Saint Petersburg', country: 'RU', time: '38:02', place: 4 },
    { bib: '15', first_name: 'נועה', last_name: 'כהן', city: 'חיפה', country: 'IL', time: '38:03', place: 5 },
    { bib: '16', known: false, time: '38:03', place: 6 },
    { bib: '17', first_name: 'Émilie', last_name: 'Lefèvre', city: 'Québec', country: 'CA', time: '38:04', place: 7 },
    { bib: '18', first_name: 'Grace', last_name: 'Okafor', city: 'Lagos', country: 'NG', time: '38:04', place: 8 }
  ];

  var SAMPLES = {
    // a name of 60 characters
    long: [{ bib: '1042', first_name: 'Maximiliana-Evangelina', last_name: 'Featherstonehaugh-Wolstenholme-Smythe', city: 'Rancho Santa Margarita', state: 'CA', country: 'US', time: '3:27:41', division: 'F40-44', team: 'Saddleback Striders Running Club', place: 9, message: 'Go Mom! We are so proud of you — see you at the finish line with ice cream!' }],
    accents: [{ bib: '77', first_name: 'José Ñúñez', last_name: 'Sørensen-Łukasiewicz', city: 'São Paulo', country: 'BR', time: '41:09', division: 'M30-34', place: 9 }],
    rtl: [{ bib: '5150', first_name: 'مريم', last_name: 'الحسيني', city: 'دبي', country: 'AE', time: '52:33', division: 'F25-29', place: 9, message: 'أحسنتِ! فخورون بك' }],
    unknown: [{ bib: '9999', known: false, time: '1:02:17', place: 9 }],
    message: [{ bib: '301', first_name: 'Sam', last_name: 'Lee', city: 'Portland', state: 'OR', country: 'US', time: '48:55', division: 'M18-24', team: 'Rose City Track', place: 9, message: 'Happy birthday Sam! 30 years, 10 kilometres, one legend.' }],
    bunch: BUNCH,
    none: []
  };

  window.RCB = window.RCB || {};
  window.RCB.SAMPLES = SAMPLES;
  // the finishers a sample shows behind its runner (newest last), in the recent-finishers list
  window.RCB.sampleEarlier = function (kind) { return kind === 'bunch' || kind === 'none' ? [] : BUNCH; };
  window.RCB.SAMPLE_SESSION = { event_name: 'Riverside 10K', name: 'Finish line', gun_minutes_ago: 47.4, starts_in_minutes: 12.6 };
})();
