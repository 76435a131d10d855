package tenantgen

import "fmt"

// Contact is contact idx of mailbox mbox without its content.
func Contact(seed int64, mbox, idx int, domain string) ItemMeta {
	b := &builder{}
	m := buildContact(b, item{seed, mbox, idx, domain})
	m.Size = b.n
	return m
}

// RenderContact is contact idx of mailbox mbox as a vCard 4.0 (RFC 6350)
// with several addresses, phones and postal addresses.
func RenderContact(seed int64, mbox, idx int, domain string) ([]byte, ItemMeta) {
	b := &builder{render: true}
	m := buildContact(b, item{seed, mbox, idx, domain})
	m.Size = b.n
	return b.buf, m
}

var streets = []struct{ street, city, code, country string }{
	{"Friedrichstraße 123", "Berlin", "10117", "Germany"},
	{"12 Rue de la Paix", "Paris", "75002", "France"},
	{"350 Fifth Avenue", "New York", "10118", "USA"},
	{"1-1 Marunouchi", "Tokyo", "100-0005", "Japan"},
	{"Calle de Alcalá 45", "Madrid", "28014", "Spain"},
}

var titles = []string{"Account Manager", "CFO", "Projektleiterin", "IT Administrator", "Consultant"}

func buildContact(b *builder, it item) ItemMeta {
	r := it.rng()
	p := it.correspondent(r)
	work := streets[r.IntN(len(streets))]
	home := streets[r.IntN(len(streets))]
	b.add("BEGIN:VCARD\r\nVERSION:4.0\r\n")
	b.contentLine("UID:urn:uuid:" + uuidFrom(r))
	b.contentLine("FN:" + p.DisplayName())
	b.contentLine("N:" + p.Last + ";" + p.First + ";;;")
	b.contentLine("EMAIL;TYPE=work;PREF=1:" + p.Address)
	b.contentLine("EMAIL;TYPE=home:" + p.FirstASCII + p.LastASCII + "@example.net")
	if r.IntN(2) == 0 {
		b.contentLine("EMAIL:" + p.FirstASCII + "@example.org")
	}
	b.addf("TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+49-30-555-%04d\r\n", r.IntN(10000))
	b.addf("TEL;VALUE=uri;TYPE=cell:tel:+1-202-555-%04d\r\n", r.IntN(10000))
	if r.IntN(3) == 0 {
		b.addf("TEL;VALUE=uri;TYPE=home:tel:+33-1-55-%02d-%02d-%02d\r\n", r.IntN(100), r.IntN(100), r.IntN(100))
	}
	b.contentLine(fmt.Sprintf("ADR;TYPE=work:;;%s;%s;;%s;%s", work.street, work.city, work.code, work.country))
	b.contentLine(fmt.Sprintf("ADR;TYPE=home:;;%s;%s;;%s;%s", home.street, home.city, home.code, home.country))
	b.contentLine("ORG:" + p.Last + " Consulting")
	b.contentLine("TITLE:" + titles[r.IntN(len(titles))])
	if r.IntN(2) == 0 {
		b.addf("BDAY:19%02d%02d%02d\r\n", 50+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28))
	}
	b.contentLine("NOTE:Met at the migration workshop\\, prefers email over phone.")
	b.add("REV:20260302T090000Z\r\nEND:VCARD\r\n")
	var m ItemMeta
	_, m.Flagged, m.Categories = drawFlags(r)
	return m
}
