extension RunReport {
    /// The report's CSS, inlined in its head.
    static let styleSheet = """
        body { font-family: Helvetica, Arial, sans-serif; font-size: 14px; color: #222; max-width: 1440px; margin: 24px auto; padding: 0 24px; background: #fff; }
        h1 { font-size: 24px; margin-bottom: 4px; }
        h2 { font-size: 19px; margin-top: 32px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
        h3 { font-size: 15px; margin-bottom: 4px; }
        .lead { color: #444; margin: 4px 0; }
        .note { color: #555; max-width: 960px; }
        .ok { color: #1a6b3a; }
        .charts { display: flex; flex-wrap: wrap; gap: 12px; }
        figure { margin: 0; border: 1px solid #e4e4e4; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 12px; }
        .example { border: 1px solid #ddd; padding: 8px; border-left: 4px solid #2a9d5c; }
        .example.fooled { border-left-color: #b2182b; }
        .images { display: flex; gap: 6px; }
        .images img { image-rendering: pixelated; border: 1px solid #bbb; }
        .captions { display: flex; gap: 6px; font-size: 11px; color: #666; }
        .captions span { width: 86px; text-align: center; }
        .labels { margin-top: 4px; font-size: 13px; line-height: 1.4; }
        .wrong { color: #b2182b; }
        .right { color: #1a6b3a; }
        .colorbar { display: flex; align-items: center; gap: 12px; margin: 8px 0 12px; }
        .colorbar span { max-width: 620px; color: #444; }
        table { border-collapse: collapse; margin: 6px 0; }
        th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        thead th { background: #f2f2f2; }
        tr.total td { font-weight: bold; }
        .manifest td, .manifest th { text-align: left; }
        .sentences th { text-align: left; }
        .sentences td { text-align: left; vertical-align: top; max-width: 520px; line-height: 1.45; }
        .sentences tr.fooled td:first-child { border-left: 4px solid #b2182b; }
        .sentences tr.resisted td:first-child { border-left: 4px solid #2a9d5c; }
        mark { background: #fbd5d0; color: #7a0f1d; padding: 0 2px; border-radius: 2px; }
        del.swapped { color: #8a8a8a; text-decoration-color: #b2182b; }
        .flags li { margin-bottom: 4px; }
        code { font-size: 13px; }
        footer { margin-top: 40px; color: #777; font-size: 12px; }
        @media print { body { max-width: none; margin: 0; } .charts, .grid { page-break-inside: avoid; } }
        """
}
