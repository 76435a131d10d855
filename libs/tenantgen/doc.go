// Package tenantgen generates the realistic tenant data every sandbox
// serves (the memory platform, the Microsoft Graph sandbox, and the Google
// and EWS sandboxes to come): mailbox owners, a folder tree, mail as RFC
// 5322 MIME, calendar items as iCalendar and contacts as vCard.
//
// Determinism. An item is named by (seed, mailbox number, index, domain)
// and, for mail, a Profile. Everything about it, its folder, shape, sizes,
// people, dates and bytes, follows from those: the same arguments give the
// same bytes in any process, so two sandboxes seeded alike hold identical
// mail and a sandbox can forget content and produce it again on demand.
// Placement, shape and the rare very large messages come from hashes of the
// name, the rest from a PCG stream seeded by it.
//
// Laziness. Nothing keeps content. Mail, Event and Contact return an item's
// metadata, including its exact size, without producing its bytes: the
// generator runs with a builder that counts instead of writing, and bulk
// parts (prose, base64 data, ciphertext) have closed-form lengths. So a
// sandbox holds thousands of mailboxes at a few hundred bytes per item,
// lists them with exact sizes, and calls RenderMail, RenderEvent or
// RenderContact only when an item is read. A 100 MB message is written in
// chunks and its raw bytes never exist as a whole.
//
// Size model. A Profile has a mean and a maximum. Each message draws a text
// length (log-normal, median about 2 KB) and, in the shapes that carry
// them, one to three attachments (log-normal, median derived from the
// profile's mean); two messages in a thousand carry one attachment of 1
// to 8 MB and one in a hundred thousand one of 10 MB up to the maximum,
// spread evenly over mailboxes and indexes. Realistic averages about 75 KB with a tail to Graph's 150 MB
// limit; Light averages about 20 KB with nothing over 1 MB, for demos and
// for runs that move whole tenants.
//
// Realism. Shapes are plain text, multipart/alternative, multipart/mixed
// with attachments, Outlook's mixed > alternative > related HTML with an
// inline cid: image, forwarded message/rfc822 with its own multipart,
// S/MIME clear-signed (multipart/signed with an application/pkcs7-signature
// part) and S/MIME encrypted (application/pkcs7-mime;
// smime-type=enveloped-data). Names, subjects and file names are often
// non-ASCII (RFC 2047 encoded words, RFC 2231 parameters, and Outlook's
// encoded words in quoted file names); received mail carries Received
// hops and, from outside, a DKIM signature. The S/MIME blobs are
// well-formed CMS in DER with certificates that parse, but their keys,
// signatures and ciphertext are pseudo-random: nothing verifies or
// decrypts.
package tenantgen
